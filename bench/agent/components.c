/* What the parts of a performed notified call cost on this host, in a loop against a live
 * process (PID, whose root has DIR, a directory on a tmpfs): the agent's opens of
 * /proc/PID/{mem,root,ns/mnt,status} (by path, and below the /proc/PID directory), the read
 * of status, the stat of ns/user (rootless), the switch to a caller's fsuid/fsgid/groups/
 * CAP_MKNOD and back, and openat2(RESOLVE_CACHED) + statx + mknodat of a fifo. Root only.
 *   cc -O2 -o components bench/agent/components.c && ./components PID DIR
 * Not a test: prints p50 of 20,000 each. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <grp.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <linux/capability.h>
static long long now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1000000000LL+t.tv_nsec;}
#define N 20000
static long long s[N];
static int cmp(const void*a,const void*b){long long x=*(long long*)a,y=*(long long*)b;return x<y?-1:x>y;}
static void rep(const char*w){qsort(s,N,sizeof*s,cmp);printf("%-28s p50 %6.2f us\n",w,s[N/2]/1000.0);}
int main(int argc,char**argv){
  int pid=atoi(argv[1]); char b[64]; static char buf[8192];
  for(int i=0;i<N;i++){long long t=now();
    snprintf(b,64,"/proc/%d/mem",pid);int a=open(b,O_RDONLY|O_CLOEXEC);
    snprintf(b,64,"/proc/%d/root",pid);int r=open(b,O_PATH|O_DIRECTORY|O_CLOEXEC);
    snprintf(b,64,"/proc/%d/ns/mnt",pid);int m=open(b,O_RDONLY|O_CLOEXEC);
    snprintf(b,64,"/proc/%d/status",pid);int st=open(b,O_RDONLY|O_CLOEXEC);
    s[i]=now()-t; close(a);close(r);close(m);close(st);}
  rep("4 /proc/PID opens");
  snprintf(b,64,"/proc/%d/status",pid);int st=open(b,O_RDONLY|O_CLOEXEC);
  for(int i=0;i<N;i++){long long t=now(); pread(st,buf,sizeof buf,0); s[i]=now()-t;}
  rep("status pread");
  snprintf(b,64,"/proc/%d",pid);int dir=open(b,O_PATH|O_DIRECTORY|O_CLOEXEC);
  for(int i=0;i<N;i++){long long t=now();
    int a=openat(dir,"mem",O_RDONLY|O_CLOEXEC),r=openat(dir,"root",O_PATH|O_DIRECTORY|O_CLOEXEC),m=openat(dir,"ns/mnt",O_RDONLY|O_CLOEXEC),q=openat(dir,"status",O_RDONLY|O_CLOEXEC);
    s[i]=now()-t; close(a);close(r);close(m);close(q);}
  rep("4 openat on /proc/PID dir");
  struct stat sb;
  for(int i=0;i<N;i++){long long t=now(); snprintf(b,64,"/proc/%d/ns/user",pid); stat(b,&sb); s[i]=now()-t;}
  rep("stat ns/user");
  gid_t g[1]={1000}; gid_t own[64]; int n=getgroups(64,own);
  struct __user_cap_header_struct h={_LINUX_CAPABILITY_VERSION_3,0}; struct __user_cap_data_struct c[2],c0[2]; syscall(SYS_capget,&h,c0);
  for(int i=0;i<N;i++){long long t=now();
    mode_t mk=umask(0); setgroups(1,g); setfsgid(1000); setfsuid(1000); setfsuid(-1); setfsgid(-1);
    c[0]=c0[0];c[1]=c0[1];c[0].effective=1<<CAP_MKNOD;c[1].effective=0; syscall(SYS_capset,&h,c);
    syscall(SYS_capset,&h,c0); setfsuid(0); setfsgid(0); setfsuid(-1); setfsgid(-1); setgroups(n,own); umask(mk);
    s[i]=now()-t;}
  rep("credential switch + back");
  snprintf(b,64,"/proc/%d/root",pid);int root=open(b,O_PATH|O_DIRECTORY|O_CLOEXEC);
  for(int i=0;i<N;i++){long long t=now();
    struct open_how how={.flags=O_PATH|O_DIRECTORY|O_CLOEXEC,.resolve=RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS|RESOLVE_CACHED};
    int d=syscall(SYS_openat2,root,argv[2],&how,sizeof how); struct statx sx; statx(d,"",AT_EMPTY_PATH|AT_STATX_DONT_SYNC,0x4000,&sx);
    mknodat(d,"n",S_IFIFO|0600,0); s[i]=now()-t; unlinkat(d,"n",0); close(d);}
  rep("openat2+statx+mknodat");
  return 0;}
