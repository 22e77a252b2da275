// Package logging builds the service's structured JSON logger.
//
// Log lines are written in batches, at most FlushInterval apart, instead of
// one write system call per line: with a request line per request, those
// calls cost a measurable share of /health throughput on small machines.
// Warnings and errors are written at once.
package logging

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// FlushInterval bounds how long an info or debug line may wait in the buffer.
const FlushInterval = 100 * time.Millisecond

// bufferSize is what a burst of request lines may fill before it is written
// regardless of the interval.
const bufferSize = 64 << 10

// Logger is a JSON slog.Logger writing through a buffer. Close it to write
// what is buffered.
type Logger struct {
	*slog.Logger
	w          *batchWriter
	stopTicker func()
}

// New returns a logger writing JSON lines at level and above to out.
func New(out io.Writer, level slog.Leveler) *Logger {
	t := time.NewTicker(FlushInterval)
	l := newLogger(out, level, t.C, nil)
	l.stopTicker = t.Stop
	return l
}

// newLogger flushes on every value from tick, and calls flushed (if not nil)
// after each such flush.
func newLogger(out io.Writer, level slog.Leveler, tick <-chan time.Time, flushed func()) *Logger {
	w := newBatchWriter(out, tick, flushed)
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	return &Logger{Logger: slog.New(flushingHandler{Handler: h, w: w}), w: w, stopTicker: func() {}}
}

// Close writes buffered lines and stops the background flush.
func (l *Logger) Close() error {
	l.stopTicker()
	return l.w.Close()
}

// flushingHandler writes warnings and errors out at once, so that they are
// not lost, nor late, if the process dies.
type flushingHandler struct {
	slog.Handler
	w *batchWriter
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushingHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{Handler: h.Handler.WithGroup(name), w: h.w}
}

// batchWriter buffers writes and flushes them on every tick. slog handlers
// write each record with one Write call, so lines are never split.
type batchWriter struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newBatchWriter(out io.Writer, tick <-chan time.Time, flushed func()) *batchWriter {
	w := &batchWriter{
		buf:  bufio.NewWriterSize(out, bufferSize),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go w.flushOn(tick, flushed)
	return w
}

func (w *batchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *batchWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Flush()
}

func (w *batchWriter) flushOn(tick <-chan time.Time, flushed func()) {
	defer close(w.done)
	for {
		select {
		case <-tick:
			_ = w.Flush()
			if flushed != nil {
				flushed()
			}
		case <-w.stop:
			return
		}
	}
}

func (w *batchWriter) Close() error {
	w.once.Do(func() {
		close(w.stop)
		<-w.done
	})
	return w.Flush()
}
