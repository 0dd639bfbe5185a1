#include "heap.h"
#include <malloc.h>

int logflume_keep_freed_memory(int mmap_bytes, int trim_bytes) {
    int mmap_set = mallopt(M_MMAP_THRESHOLD, mmap_bytes);
    int trim_set = mallopt(M_TRIM_THRESHOLD, trim_bytes);
    return mmap_set == 1 && trim_set == 1;
}
