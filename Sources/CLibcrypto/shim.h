// SHA-256 only. OpenSSL 3 marks the one-shot SHA256_* calls deprecated in favour of EVP; they
// are the same code (SHA-NI or AVX2, picked at run time) without a heap-allocated context, so
// the warning is silenced here rather than every call carrying one.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
