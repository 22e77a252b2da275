package pgtest

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections on a fixed loopback port to the real
// database. Cut, BlackHole and Freeze simulate outages; Restore ends them on
// the same port, so the service under test recovers without being
// reconfigured.
type Proxy struct {
	t               testing.TB
	network, target string
	addr            string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	// gen counts stops; a connection accepted by an older listener is
	// closed instead of tracked, so none survives a cut.
	gen int
	// frozen stops forwarding until the next stop.
	frozen  bool
	serving sync.WaitGroup
}

// NewProxy starts a forwarding proxy to the server in dsn. It is closed when
// the test ends.
func NewProxy(t testing.TB, dsn string) *Proxy {
	t.Helper()
	network, target := target(t, dsn)
	p := &Proxy{t: t, network: network, target: target, conns: map[net.Conn]struct{}{}}
	p.listen("127.0.0.1:0", true)
	p.addr = p.ln.Addr().String()
	t.Cleanup(p.stop)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// DSN returns dsn pointed at the proxy.
func (p *Proxy) DSN(dsn string) string { return WithAddr(p.t, dsn, p.addr) }

// Cut closes the listener and every live connection: from now on connecting
// is refused, as when the database is down.
func (p *Proxy) Cut() {
	p.stop()
}

// BlackHole drops live connections and then accepts new ones but never
// answers, as a hung server or a firewall that eats packets would.
func (p *Proxy) BlackHole() {
	p.stop()
	p.listen(p.addr, false)
}

// Freeze stops forwarding without closing anything: live connections stay
// open but what either side sends is dropped, and new connections are
// accepted and held silently, as when the database's host vanishes. Unlike
// after BlackHole, clients learn nothing until their own timeouts fire.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

// Restore forwards connections again, on the same port.
func (p *Proxy) Restore() {
	p.stop()
	p.listen(p.addr, true)
}

func (p *Proxy) listen(addr string, forward bool) {
	p.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy listening on %s: %v", addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	gen := p.gen
	p.mu.Unlock()
	p.serving.Add(1)
	go p.accept(ln, gen, forward)
}

func (p *Proxy) accept(ln net.Listener, gen int, forward bool) {
	defer p.serving.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c, gen) {
			c.Close()
			return
		}
		if forward && p.forwarding(gen) {
			go p.pipe(c, gen)
		}
		// Black hole or frozen: hold the connection open, say nothing,
		// until stop.
	}
}

func (p *Proxy) pipe(client net.Conn, gen int) {
	server, err := net.Dial(p.network, p.target)
	if err != nil {
		p.untrack(client)
		client.Close()
		return
	}
	if !p.track(server, gen) {
		server.Close()
		client.Close()
		return
	}
	var wg sync.WaitGroup
	copyAndClose := func(dst, src net.Conn) {
		defer wg.Done()
		p.copy(dst, src, gen)
		// While frozen a hang-up is not passed on: to each side, the
		// other has vanished.
		if p.forwarding(gen) {
			dst.Close()
		}
		src.Close()
	}
	wg.Add(2)
	go copyAndClose(server, client)
	go copyAndClose(client, server)
	wg.Wait()
	p.untrack(client)
	p.untrack(server)
}

// copy forwards src to dst until either fails, dropping what it reads while
// frozen.
func (p *Proxy) copy(dst, src net.Conn, gen int) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.forwarding(gen) {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// forwarding reports whether a connection accepted by listener generation
// gen may carry data: its listener is current and the proxy is not frozen.
func (p *Proxy) forwarding(gen int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return gen == p.gen && !p.frozen
}

// track records c for stop; it reports false if the listener that accepted
// it has been stopped since.
func (p *Proxy) track(c net.Conn, gen int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen != p.gen {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// stop closes the listener and all live connections, and ends a freeze.
func (p *Proxy) stop() {
	p.mu.Lock()
	p.gen++
	p.frozen = false
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	p.serving.Wait()
}
