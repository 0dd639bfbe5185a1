#ifndef LOGFLUME_IGZIP_CHUNK_H
#define LOGFLUME_IGZIP_CHUNK_H

#include <stddef.h>

/// An ISA-L igzip compressor for one level: its stream state (large, so on the heap, not on a
/// worker thread's stack) and the level's hash buffer. Only one thread uses it at a time.
typedef struct logflume_igzip logflume_igzip;

/// A compressor for ISA-L level 0-3; NULL for another level or when memory ran out.
logflume_igzip *logflume_igzip_create(int level);
void logflume_igzip_free(logflume_igzip *compressor);

/// Room that always holds a gzip member of `length` input bytes, stored blocks included.
size_t logflume_igzip_bound(size_t length);

/// Compresses `length` bytes into one gzip member (RFC 1952, mtime 0, no name) in `output`.
/// Returns the member's size, or 0 when it did not fit or ISA-L refused (`*status` holds its code).
size_t logflume_igzip_compress(logflume_igzip *compressor, const void *input, size_t length,
                               void *output, size_t capacity, int *status);

#endif
