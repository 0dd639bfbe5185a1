#ifndef LOGFLUME_FILESPACE_H
#define LOGFLUME_FILESPACE_H

#include <stdint.h>

/// fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length): reserves blocks past the end of the file
/// without changing its size. Returns 0, or -1 with errno set. Glibc declares fallocate only
/// under _GNU_SOURCE, which Swift's Glibc module does not define, hence this one-line shim.
int logflume_reserve_blocks(int fd, int64_t offset, int64_t length);

/// sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE): starts writeback of the range's
/// dirty pages without waiting for it to finish (also a _GNU_SOURCE declaration).
int logflume_start_writeback(int fd, int64_t offset, int64_t length);

#endif
