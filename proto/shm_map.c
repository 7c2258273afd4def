/* Mapping the shared rings (shm_map.h). Unlike the rest of proto/, this file makes system
 * calls (memfd_create, fcntl, fstat, mmap); it is the only such file here. */
#include "shm_map.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

int shm_area_create(uint32_t size)
{
    if (!shm_ring_size_ok(size)) {
        errno = EINVAL;
        return -1;
    }
    int fd = memfd_create("minitcp-rings", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -1;
    struct shm_hdr h = {.magic = SHM_MAGIC, .version = SHM_VERSION, .ring_size = size};
    if (ftruncate(fd, (off_t)SHM_FILE_SIZE(size)) < 0 || pwrite(fd, &h, sizeof h, 0) != sizeof h ||
        fcntl(fd, F_ADD_SEALS, SEALS) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Maps `len` bytes of fd at `off` over the reservation at `at`. */
static int map_at(uint8_t *at, size_t len, int fd, uint64_t off)
{
    void *p = mmap(at, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, (off_t)off);
    return p == MAP_FAILED ? -1 : 0;
}

int shm_area_map(struct shm_area *a, int fd, uint32_t size, int check_hdr)
{
    memset(a, 0, sizeof *a);
    struct stat sb;
    int seals = fcntl(fd, F_GET_SEALS);
    if (!shm_ring_size_ok(size) || seals < 0 ||
        (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW) ||
        fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != SHM_FILE_SIZE(size)) {
        errno = EINVAL;
        return -1;
    }
    /* header page, then each ring twice */
    size_t len = SHM_HDR_SIZE + 4 * (size_t)size;
    uint8_t *base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return -1;
    uint8_t *c2d = base + SHM_HDR_SIZE, *d2c = c2d + 2 * (size_t)size;
    if (map_at(base, SHM_HDR_SIZE, fd, 0) < 0 || map_at(c2d, size, fd, SHM_DATA_C2D(size)) < 0 ||
        map_at(c2d + size, size, fd, SHM_DATA_C2D(size)) < 0 ||
        map_at(d2c, size, fd, SHM_DATA_D2C(size)) < 0 ||
        map_at(d2c + size, size, fd, SHM_DATA_D2C(size)) < 0) {
        int e = errno;
        munmap(base, len);
        errno = e;
        return -1;
    }
    if (check_hdr) {
        struct shm_hdr h;
        memcpy(&h, base, sizeof h); /* one snapshot of memory the peer may change */
        if (h.magic != SHM_MAGIC || h.version != SHM_VERSION || h.ring_size != size) {
            munmap(base, len);
            errno = EINVAL;
            return -1;
        }
    }
    a->base = base;
    a->len = len;
    a->size = size;
    shm_ring_init(&a->c2d, (struct shm_ctrl *)(base + SHM_CTRL_C2D), c2d, size);
    shm_ring_init(&a->d2c, (struct shm_ctrl *)(base + SHM_CTRL_D2C), d2c, size);
    /* a new area starts at 0; a peer's stale values are corrupt indices, found on use */
    a->c2d.head = a->c2d.pub = a->c2d.tail = 0;
    a->d2c.head = a->d2c.pub = a->d2c.tail = 0;
    return 0;
}

void shm_area_unmap(struct shm_area *a)
{
    if (a->base) munmap(a->base, a->len);
    memset(a, 0, sizeof *a);
}
