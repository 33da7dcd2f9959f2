package devserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
)

// PortInUseError reports that a fixed address parry dev needs is taken by another
// process. Flag names the command-line flag that moves it elsewhere.
type PortInUseError struct {
	Addr string
	Flag string
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("%s is in use: stop the other process or pass %s", e.Addr, e.Flag)
}

// listenAddr is a parsed "ip:port" to bind, with the address clients should dial.
type listenAddr struct {
	bind netip.AddrPort
}

// parseListen accepts "ip:port", "localhost:port" and ":port". Both of the latter
// mean the IPv4 loopback: parry dev binds to loopback unless told otherwise, so a bare
// port must not silently open the server to the network. Port 0 picks a free port,
// which tests use; parry dev itself passes fixed ports.
func parseListen(addr string) (listenAddr, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return listenAddr{}, fmt.Errorf("invalid listen address %q: want ip:port, e.g. 127.0.0.1:7233", addr)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return listenAddr{}, fmt.Errorf("invalid listen address %q: port must be a number from 0 to 65535", addr)
	}
	var ip netip.Addr
	switch host {
	case "", "localhost":
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	default:
		ip, err = netip.ParseAddr(host)
		if err != nil || ip.Zone() != "" {
			return listenAddr{}, fmt.Errorf("invalid listen address %q: host must be an IP address or localhost", addr)
		}
	}
	return listenAddr{bind: netip.AddrPortFrom(ip.Unmap(), uint16(port))}, nil
}

// dialIP is the IP clients in this process use to reach a server bound to the
// address: the loopback of the same family when the bind address is a wildcard.
func (l listenAddr) dialIP() netip.Addr {
	ip := l.bind.Addr()
	if !ip.IsUnspecified() {
		return ip
	}
	if ip.Is4() {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return netip.IPv6Loopback()
}

// reserve binds the address to prove it is free, resolving port 0 to a concrete port.
// The caller closes the listener just before the server binds the port itself: a
// port the server fails to bind ends in its Fatal path, so the common failures are
// caught here with a message that says what to do.
func (l listenAddr) reserve(flag string) (net.Listener, netip.AddrPort, error) {
	ln, err := net.Listen("tcp", l.bind.String())
	if err != nil {
		return nil, netip.AddrPort{}, listenError(l.bind.String(), flag, err)
	}
	got := ln.Addr().(*net.TCPAddr).AddrPort()
	return ln, netip.AddrPortFrom(l.bind.Addr(), got.Port()), nil
}

// listenError turns a bind failure into one line naming the address and the remedy.
func listenError(addr, flag string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return &PortInUseError{Addr: addr, Flag: flag}
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("cannot listen on %s: permission denied (ports below 1024 need privileges): pass another port with %s", addr, flag)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("cannot listen on %s: the address is not on this machine: pass another with %s", addr, flag)
	default:
		return fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
}

// freePorts returns n distinct free TCP ports on ip. All listeners stay open until
// every port is chosen, so the kernel cannot hand out the same port twice; a port
// the caller still holds open is never among them either.
func freePorts(ip netip.Addr, n int) ([]int, error) {
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
		if err != nil {
			return nil, fmt.Errorf("choosing a free port on %s: %w", ip, err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
