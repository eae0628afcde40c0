/* A growable byte buffer. */
#include <stdlib.h>
#include <string.h>

#define INITIAL_CAP 16

/* A heap-allocated byte buffer. */
struct buffer {
    char *data;
    size_t len;
    size_t cap;
};

typedef enum {
    BUF_OK = 0,
    BUF_NOMEM = 1
} buf_status;

/* Make sure the buffer can hold `extra` more bytes. */
static buf_status buffer_reserve(struct buffer *b, size_t extra)
{
    size_t need = b->len + extra;
    if (need <= b->cap)
        return BUF_OK;
    size_t cap = b->cap ? b->cap : INITIAL_CAP;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return BUF_NOMEM;
    b->data = p;
    b->cap = cap;
    return BUF_OK;
}

/* Append `n` bytes from `src`. */
buf_status buffer_append(struct buffer *b, const char *src, size_t n)
{
    if (buffer_reserve(b, n) != BUF_OK)
        return BUF_NOMEM;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return BUF_OK;
}

/* Return a NUL-terminated copy of the contents; the caller frees it. */
char *buffer_cstr(const struct buffer *b)
{
    char *s = malloc(b->len + 1);
    if (s) {
        memcpy(s, b->data, b->len);
        s[b->len] = '\0';
    }
    return s;
}

void buffer_free(struct buffer *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
