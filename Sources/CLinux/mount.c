#include "clinux.h"

#ifndef SYS_pivot_root
#define SYS_pivot_root __NR_pivot_root
#endif

int cl_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int cl_open_tree(int dfd, const char *path, unsigned int flags) {
    return (int)syscall(SYS_open_tree, dfd, path, flags);
}

int cl_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags) {
    return (int)syscall(SYS_move_mount, from_dfd, from_path, to_dfd, to_path, flags);
}

/* Declared locally: the kernel's struct mount_attr (MOUNT_ATTR_SIZE_VER0). */
struct cl_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

int cl_mount_setattr(int dfd, const char *path, unsigned int flags,
                     uint64_t attr_set, uint64_t attr_clr, uint64_t propagation, uint64_t userns_fd) {
    struct cl_mount_attr attr = { attr_set, attr_clr, propagation, userns_fd };
    return (int)syscall(SYS_mount_setattr, dfd, path, flags, &attr, sizeof attr);
}

int cl_fsopen(const char *fs_name, unsigned int flags) {
    return (int)syscall(SYS_fsopen, fs_name, flags);
}

int cl_fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux) {
    return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}

int cl_fsmount(int fd, unsigned int flags, unsigned int attr_flags) {
    return (int)syscall(SYS_fsmount, fd, flags, attr_flags);
}

int cl_statx_mount(int dfd, const char *path, int flags, uint64_t *attributes, uint64_t *attributes_mask,
                   uint64_t *mnt_id) {
    struct statx stx;
    memset(&stx, 0, sizeof stx);
    if (statx(dfd, path, flags, STATX_BASIC_STATS | STATX_MNT_ID, &stx) != 0) return -1;
    *attributes = stx.stx_attributes;
    *attributes_mask = stx.stx_attributes_mask;
    *mnt_id = (stx.stx_mask & STATX_MNT_ID) ? stx.stx_mnt_id : 0;
    return 0;
}

int cl_fstatfs_info(int fd, int64_t *type, uint64_t *flags) {
    struct statfs st;
    if (fstatfs(fd, &st) != 0) return -1;
    *type = (int64_t)st.f_type;
    *flags = (uint64_t)st.f_flags;
    return 0;
}

int cl_statfs_info(const char *path, int64_t *type, uint64_t *flags) {
    struct statfs st;
    if (statfs(path, &st) != 0) return -1;
    *type = (int64_t)st.f_type;
    *flags = (uint64_t)st.f_flags;
    return 0;
}
