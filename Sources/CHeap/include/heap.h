#ifndef LOGFLUME_HEAP_H
#define LOGFLUME_HEAP_H

/// mallopt(M_MMAP_THRESHOLD, mmap_bytes) and mallopt(M_TRIM_THRESHOLD, trim_bytes): blocks below
/// mmap_bytes come from the heap, and up to trim_bytes of free memory stay mapped for reuse.
/// Swift's Glibc module does not export malloc.h. Returns 1 when both settings took.
int logflume_keep_freed_memory(int mmap_bytes, int trim_bytes);

#endif
