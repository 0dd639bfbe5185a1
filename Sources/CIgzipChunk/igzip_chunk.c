#include "igzip_chunk.h"

#include <isa-l/igzip_lib.h>
#include <stdint.h>
#include <stdlib.h>

struct logflume_igzip {
    struct isal_zstream stream;
    int level;
    uint8_t *level_buffer;
    uint32_t level_buffer_size;
};

logflume_igzip *logflume_igzip_create(int level) {
    // ISA-L's own defaults per level (the "large" sizes): smaller hash buffers lose ratio.
    static const uint32_t sizes[] = {ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT,
                                     ISAL_DEF_LVL3_DEFAULT};
    if (level < 0 || level > ISAL_DEF_MAX_LEVEL) return NULL;
    logflume_igzip *compressor = calloc(1, sizeof *compressor);
    if (compressor == NULL) return NULL;
    compressor->level = level;
    compressor->level_buffer_size = sizes[level];
    if (compressor->level_buffer_size > 0) {
        compressor->level_buffer = malloc(compressor->level_buffer_size);
        if (compressor->level_buffer == NULL) {
            free(compressor);
            return NULL;
        }
    }
    return compressor;
}

void logflume_igzip_free(logflume_igzip *compressor) {
    if (compressor == NULL) return;
    free(compressor->level_buffer);
    free(compressor);
}

size_t logflume_igzip_bound(size_t length) {
    // ISA-L falls back to stored blocks when the compressed form does not fit and the stored
    // one does: the input plus 5 bytes per 64 KiB block, a 10-byte header and an 8-byte trailer.
    return length + 5 * (length / 65535 + 1) + 64;
}

size_t logflume_igzip_compress(logflume_igzip *compressor, const void *input, size_t length,
                               void *output, size_t capacity, int *status) {
    *status = COMP_OK;
    if (length >= UINT32_MAX || capacity >= UINT32_MAX) {
        *status = LOGFLUME_IGZIP_TOO_LARGE;
        return 0;
    }
    struct isal_zstream *stream = &compressor->stream;
    isal_deflate_stateless_init(stream);
    stream->level = (uint32_t)compressor->level;
    stream->level_buf = compressor->level_buffer;
    stream->level_buf_size = compressor->level_buffer_size;
    // Without a header of our own ISA-L writes the minimal one: mtime 0, no name, OS unknown.
    stream->gzip_flag = IGZIP_GZIP;
    stream->end_of_stream = 1;
    stream->flush = NO_FLUSH;
    stream->next_in = (uint8_t *)input;
    stream->avail_in = (uint32_t)length;
    stream->next_out = output;
    stream->avail_out = (uint32_t)capacity;
    int result = isal_deflate_stateless(stream);
    if (result != COMP_OK) {
        *status = result;
        return 0;
    }
    return stream->total_out;
}

const char *logflume_igzip_status_text(int status) {
    switch (status) {
    case COMP_OK: return "no error";
    case LOGFLUME_IGZIP_TOO_LARGE: return "the chunk or its output space is 4 GiB or more";
    case STATELESS_OVERFLOW: return "the output did not fit (STATELESS_OVERFLOW)";
    case INVALID_FLUSH: return "invalid flush (INVALID_FLUSH)";
    case INVALID_PARAM: return "invalid parameter (INVALID_PARAM)";
    case ISAL_INVALID_STATE: return "invalid state (ISAL_INVALID_STATE)";
    case ISAL_INVALID_LEVEL: return "invalid level (ISAL_INVALID_LEVEL)";
    case ISAL_INVALID_LEVEL_BUF: return "level buffer too small (ISAL_INVALID_LEVEL_BUF)";
    default: return "unknown ISA-L status";
    }
}
