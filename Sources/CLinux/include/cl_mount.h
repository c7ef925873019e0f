#ifndef CL_MOUNT_H
#define CL_MOUNT_H
#include <stdint.h>
#include <sys/types.h>
#include <sys/statfs.h>

/* The mount API syscalls, called raw so that neither glibc >= 2.36 nor its
 * <sys/mount.h> vs <linux/mount.h> conflicts are needed. */
int cl_pivot_root(const char *new_root, const char *put_old);
int cl_open_tree(int dfd, const char *path, unsigned int flags);
int cl_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags);
/* mount_setattr(2) with struct mount_attr passed as its four fields. */
int cl_mount_setattr(int dfd, const char *path, unsigned int flags,
                     uint64_t attr_set, uint64_t attr_clr, uint64_t propagation, uint64_t userns_fd);
int cl_fsopen(const char *fs_name, unsigned int flags);
int cl_fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux);
int cl_fsmount(int fd, unsigned int flags, unsigned int attr_flags);

/* statx(2) fields a mount point check needs: the attributes (STATX_ATTR_MOUNT_ROOT)
 * and the mount id. Returns -1 with errno on failure. */
int cl_statx_mount(int dfd, const char *path, int flags, uint64_t *attributes, uint64_t *attributes_mask,
                   uint64_t *mnt_id);

/* statfs(2) fields: the magic number and the ST_* mount flags. */
int cl_fstatfs_info(int fd, int64_t *type, uint64_t *flags);
int cl_statfs_info(const char *path, int64_t *type, uint64_t *flags);
#endif
