// The builder and batch APIs speak in codecs, so users of the wire module get them too.
@_exported public import LogflumeCompression
