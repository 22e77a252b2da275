package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ListenAddr returns the HTTP listen address from PORT or ADDR. It is separate
// from Load because the healthcheck probe needs the port but not the database.
func ListenAddr(getenv func(string) string) (string, error) {
	portVar, addrVar := getenv("PORT"), getenv("ADDR")
	if addrVar == "" && portVar == "" {
		return DefaultAddr, nil
	}
	var port string
	if portVar != "" {
		p, problem := parsePort(portVar)
		if problem != "" {
			return "", &Error{Var: "PORT", Problem: fmt.Sprintf("%q %s", portVar, problem), Fix: "set it to a TCP port between 1 and 65535 (default 8080)"}
		}
		port = p
	}
	if addrVar == "" {
		return ":" + port, nil
	}
	addrFix := `set it to host:port or :port, e.g. ":8080" or "127.0.0.1:8080"`
	host, addrPort, err := net.SplitHostPort(addrVar)
	if err != nil {
		return "", &Error{Var: "ADDR", Problem: fmt.Sprintf("%q is not a host:port address", addrVar), Fix: addrFix}
	}
	if strings.ContainsAny(host, " \t") {
		return "", &Error{Var: "ADDR", Problem: fmt.Sprintf("%q has an invalid host", addrVar), Fix: addrFix}
	}
	p, problem := parsePort(addrPort)
	if problem != "" {
		return "", &Error{Var: "ADDR", Problem: fmt.Sprintf("%q has a port that %s", addrVar, problem), Fix: addrFix}
	}
	if port != "" && port != p {
		return "", &Error{
			Var:     "PORT",
			Problem: fmt.Sprintf("%q disagrees with ADDR %q", portVar, addrVar),
			Fix:     "set only one of PORT and ADDR, or give both the same port",
		}
	}
	return net.JoinHostPort(host, p), nil
}

// parsePort returns the port in canonical form, or what is wrong with it.
func parsePort(v string) (port, problem string) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return "", "is not a number"
	}
	if n < 1 || n > 65535 {
		return "", "is out of range 1-65535"
	}
	return strconv.Itoa(n), ""
}
