package bed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lock takes the cache's lock so that two `up` or `down` runs (two
// engineers, two terminals) never work on one bed at once. It waits for a
// holder to finish; unlock releases it.
func (b *Bed) lock(ctx context.Context) (unlock func(), err error) {
	if err := os.MkdirAll(string(b.cache), 0o755); err != nil {
		return nil, err
	}
	p := filepath.Join(string(b.cache), "lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	waiting := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", p, err)
		}
		if !waiting {
			b.run.Printf("waiting for another testbed command to finish (lock %s)", p)
			waiting = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
