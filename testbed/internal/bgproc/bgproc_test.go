package bgproc

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStartStop(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "sleep.pid")
	rec, err := Start([]string{"sleep", "60"}, os.Environ(), filepath.Join(dir, "log"), pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Alive() {
		t.Fatal("started process is not alive")
	}
	got, ok, err := Read(pidFile)
	if err != nil || !ok || got != rec {
		t.Fatalf("Read = %v %v %v, want %v", got, ok, err, rec)
	}
	if err := rec.Stop(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if rec.Alive() {
		t.Error("process alive after Stop")
	}
	// Stopping again is fine.
	if err := rec.Stop(context.Background(), time.Second); err != nil {
		t.Error(err)
	}
}

func TestReusedPIDIsNotOurs(t *testing.T) {
	self := Record{PID: os.Getpid()}
	st, err := startTime(self.PID)
	if err != nil {
		t.Fatal(err)
	}
	self.Start = st
	if !self.Alive() {
		t.Fatal("this process is not alive?")
	}
	other := Record{PID: self.PID, Start: st + 1}
	if other.Alive() {
		t.Error("a record with another start time matched this process")
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"", "12", "x 1", "12 y", "-1 5"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
	if r, err := Parse("123 456\n"); err != nil || r != (Record{123, 456}) {
		t.Errorf("Parse = %v, %v", r, err)
	}
	if _, ok, err := Read(filepath.Join(t.TempDir(), "none")); ok || err != nil {
		t.Errorf("Read of a missing file: ok=%v err=%v", ok, err)
	}
}
