package activities

import "syscall"

// protectEnviron makes the process non-dumpable: its /proc/<pid> files (environ, mem)
// belong to root and ptrace is refused, so processes of the same user — blueprint steps —
// cannot read its environment. Children get their own dumpable flag back at exec.
func protectEnviron() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0); errno != 0 {
		return errno
	}
	return nil
}
