// Package hostca finds the certificate authorities the host trusts beyond
// Debian's bundle: on these machines, the CA of the TLS-intercepting egress
// proxy through which the Go module proxy is reached. Images that fetch over
// TLS (the Go stand-in, the Dagger engine) must trust it too, as any site
// behind such a proxy has to arrange.
package hostca

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gantry-ci/gantry/testbed/internal/cache"
	"github.com/gantry-ci/gantry/testbed/internal/layer"
)

// HostBundle is the host's CA bundle.
const HostBundle = "/etc/ssl/certs/ca-certificates.crt"

// Extra returns the certificates of host that are not in base, as PEM, in
// host's order.
func Extra(host, base []byte) [][]byte {
	known := map[string]bool{}
	for _, der := range certs(base) {
		known[string(der)] = true
	}
	var extra [][]byte
	for _, der := range certs(host) {
		if !known[string(der)] {
			known[string(der)] = true
			extra = append(extra, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		}
	}
	return extra
}

func certs(bundle []byte) [][]byte {
	var out [][]byte
	for {
		var b *pem.Block
		b, bundle = pem.Decode(bundle)
		if b == nil {
			return out
		}
		if b.Type == "CERTIFICATE" {
			out = append(out, b.Bytes)
		}
	}
}

// Append returns base followed by the extra certificates.
func Append(base []byte, extra [][]byte) []byte {
	out := bytes.TrimRight(base, "\n")
	if len(out) > 0 {
		out = append(out, '\n')
	}
	for _, c := range extra {
		out = append(out, c...)
	}
	return out
}

// Debian's bundle, where the ca-certificates package writes it (no leading
// slash: a path inside a layer).
const layerBundle = "etc/ssl/certs/ca-certificates.crt"

// ForLayer returns the CA bundle inside the Debian root file system layer
// at debianLayer and the host's certificates missing from it. The answer is
// cached next to the layer (reading a layer takes a few seconds).
func ForLayer(c cache.Dir, debianLayer string) (base []byte, extra [][]byte, err error) {
	host, err := os.ReadFile(HostBundle)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("reading the host's CA bundle: %w", err)
	}
	dest := c.Path("layers", cache.Entry("hostca", "", cache.Key(filepath.Base(debianLayer), string(host)))+".json")
	var saved struct {
		Base  []byte
		Extra [][]byte
	}
	if data, err := os.ReadFile(dest); err == nil && json.Unmarshal(data, &saved) == nil {
		return saved.Base, saved.Extra, nil
	}
	files, err := layer.Pick(debianLayer, layerBundle)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range files {
		if f.Path == layerBundle {
			saved.Base = f.Data
		}
	}
	if saved.Base == nil {
		return nil, nil, fmt.Errorf("%s has no %s", filepath.Base(debianLayer), layerBundle)
	}
	saved.Extra = Extra(host, saved.Base)
	data, err := json.Marshal(saved)
	if err != nil {
		return nil, nil, err
	}
	if _, err := cache.Ensure(dest, func(tmp string) error { return os.WriteFile(tmp, data, 0o644) }); err != nil {
		return nil, nil, err
	}
	cache.Prune(filepath.Dir(dest), "hostca-", filepath.Base(dest))
	return saved.Base, saved.Extra, nil
}

// Files are the layer entries that make an image trust extra on top of
// base: the rewritten bundle, and each certificate in
// /usr/local/share/ca-certificates so update-ca-certificates keeps them.
func Files(base []byte, extra [][]byte) []layer.File {
	if len(extra) == 0 {
		return nil
	}
	files := []layer.File{{Path: layerBundle, Mode: 0o644, Data: Append(base, extra)}}
	return append(files, certFiles(extra)...)
}

// certFiles are the extra certificates as files in
// /usr/local/share/ca-certificates, one per certificate.
func certFiles(extra [][]byte) []layer.File {
	var files []layer.File
	for i, c := range extra {
		files = append(files, layer.File{
			Path: fmt.Sprintf("usr/local/share/ca-certificates/gantry-testbed-host-%d.crt", i),
			Mode: 0o644, Data: c,
		})
	}
	return files
}
