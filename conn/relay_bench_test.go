package conn

import (
	"syscall"
	"testing"
)

// fullSockets returns n non-blocking stream sockets whose send buffers
// are full (their peers never read).
func fullSockets(b *testing.B, n int) []int {
	b.Helper()
	var fds []int
	chunk := make([]byte, 64<<10)
	for range n {
		pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Skipf("socketpair: %v", err)
		}
		for {
			if _, err := syscall.Write(pair[0], chunk); err != nil {
				break
			}
		}
		fds = append(fds, pair[0], pair[1])
	}
	b.Cleanup(func() {
		for _, fd := range fds {
			_ = syscall.Close(fd)
		}
	})
	out := make([]int, 0, n)
	for i := 0; i < len(fds); i += 2 {
		out = append(out, fds[i])
	}
	return out
}

// BenchmarkBlockedWritersSweep is what one sweep costs per loop with 256
// blocked direct writers (conn/relay.go): retrying each with write(2)
// (EAGAIN), as the relay first did, against the one ppoll(2) the sweep
// makes. The sweep runs every 2 ms while a writer waits. Measured on the
// 2-core dev box: write-each 110-185 µs/sweep, ppoll-all ~40 µs/sweep
// (go test -run XXX -bench BlockedWriters -benchtime=2000x -count=3 ./conn/).
func BenchmarkBlockedWritersSweep(b *testing.B) {
	const n = 256
	fds := fullSockets(b, n)
	b.Run("write-each", func(b *testing.B) {
		p := []byte("x")
		for b.Loop() {
			for _, fd := range fds {
				if _, err := syscall.Write(fd, p); err != syscall.EAGAIN {
					b.Fatalf("write: %v", err)
				}
			}
		}
	})
	b.Run("ppoll-all", func(b *testing.B) {
		pfds := make([]pollFd, n)
		for i, fd := range fds {
			pfds[i] = pollFd{fd: int32(fd), events: pollOut}
		}
		for b.Loop() {
			if errno := ppoll(pfds); errno != 0 || pfds[0].revents != 0 {
				b.Fatalf("ppoll: %v, revents %#x", errno, pfds[0].revents)
			}
		}
	})
}
