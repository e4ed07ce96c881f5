/* One read of a plain socket into an evbuffer with readv and no
 * FIONREAD, shared by the core (the request head, lingering) and the
 * relay (its plain sources). */
#include "sockread.h"

#include <errno.h>
#include <sys/uio.h>

#include <event2/buffer.h>

int sockread(struct evbuffer *in, int fd, size_t cap, size_t first, size_t step, size_t max)
{
    size_t got = 0, want_step = first;

    for (;;) {
        struct evbuffer_iovec vec[2];
        struct iovec iov[2];
        size_t have = evbuffer_get_length(in), room = 0, want;
        ssize_t r;
        int nv;

        if (have >= cap || got >= max)
            return 1;
        want = cap - have < want_step ? cap - have : want_step;
        nv = evbuffer_reserve_space(in, (ev_ssize_t)want, vec, 2);
        if (nv <= 0)
            return -1;
        /* The reservation may be larger than asked (all of it is read
         * into), but never past cap. */
        for (int i = 0; i < nv; i++) {
            if (vec[i].iov_len > cap - have - room)
                vec[i].iov_len = cap - have - room;
            iov[i].iov_base = vec[i].iov_base;
            iov[i].iov_len = vec[i].iov_len;
            room += vec[i].iov_len;
        }
        do
            r = readv(fd, iov, nv);
        while (r < 0 && errno == EINTR);
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
        if (r == 0)
            return got ? 1 : 0;     /* the end of file is read again next time */
        size_t left = (size_t)r;
        int used = 0;
        for (; used < nv && left > 0; used++) {
            if (vec[used].iov_len > left)
                vec[used].iov_len = left;
            left -= vec[used].iov_len;
        }
        evbuffer_commit_space(in, vec, used);
        got += (size_t)r;
        if ((size_t)r < room)
            return 1;               /* the socket is empty */
        want_step = step;
    }
}
