package conn

import (
	"net/netip"
	"syscall"
)

// SocketLocalAddr returns the socket's own address as the kernel has it
// (getsockname), "ip:port". For an accepted connection that is the address
// the client reached, where gnet's LocalAddr is the listener's configured
// address (a wildcard IP, or port 0). One system call: callers keep the
// result (the access log formats it once per connection). "" when the
// socket is closed or has no IP address. Loop only.
func (c *Conn) SocketLocalAddr() string {
	if c.state == stateClosed {
		return ""
	}
	fd := c.gc.Fd()
	if fd < 0 {
		return ""
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return ""
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port)).String()
	}
	return ""
}
