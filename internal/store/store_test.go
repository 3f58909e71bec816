package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestEmbeddedKeepsAcknowledgedWrites publishes to the embedded store,
// closes it, opens the same directory again and reads the message back:
// what the store acknowledged is on disk.
func TestEmbeddedKeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Embedded() || !s.Connected() {
		t.Fatalf("Embedded() = %v, Connected() = %v; want both true", s.Embedded(), s.Connected())
	}
	if _, err := s.JetStream().CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JetStream().Publish(ctx, "t", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close() // idempotent
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Fatalf("no jetstream directory under data_dir: %v", err)
	}

	s, err = Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.JetStream().Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(m.Data); got != "kept" {
		t.Errorf("message = %q; want %q", got, "kept")
	}
}

// TestEmbeddedOpensNoPort: the embedded server listens on nothing.
func TestEmbeddedOpensNoPort(t *testing.T) {
	s, err := Open(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if addr := s.srv.Addr(); addr != nil {
		t.Errorf("embedded server listens on %v; want no listener", addr)
	}
	if !s.srv.JetStreamEnabled() {
		t.Error("JetStream not enabled")
	}
	if got := s.srv.JetStreamConfig(); got == nil || !got.SyncAlways {
		t.Errorf("JetStream config %+v; want SyncAlways", got)
	}
}

func TestOpenBadDataDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{DataDir: filepath.Join(file, "sub")})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Open on a file's child = %v; want ErrUnavailable", err)
	}
}

// TestDataDirLocked: a second store on the same data_dir is refused while
// the first is open, and opens once it is closed.
func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{DataDir: dir}); !errors.Is(err, ErrLocked) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("second Open = %v; want ErrLocked (and ErrUnavailable)", err)
	}
	s.Close()
	s2, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}
