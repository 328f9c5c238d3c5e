//go:build linux

package outbox

import "golang.org/x/sys/unix"

// releaseMapping tells the kernel that the process no longer needs the
// pages of bbolt's mapping at [addr, addr+size), so that payloads read
// through it stop counting in the process's RSS.
//
// MADV_DONTNEED is safe here because bbolt maps the file read-only and
// MAP_SHARED: the mapping never holds data of its own (no dirty or private
// copy-on-write pages; bbolt writes with pwrite), so dropping its page
// table entries loses nothing. The next access faults the page in again
// from the page cache, or from the file, with the same contents. The caller
// holds a read transaction, hence bbolt's mmap lock, so the mapping is not
// unmapped or replaced meanwhile; concurrent readers of the same pages just
// take a page fault.
//
// The raw system call takes the address as bbolt hands it out (a uintptr,
// DB.Info().Data), which avoids turning it back into a Go pointer.
func releaseMapping(addr uintptr, size int64) error {
	if addr == 0 || size <= 0 {
		return nil
	}
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, uintptr(size), unix.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}
