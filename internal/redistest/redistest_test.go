package redistest

import "testing"

func TestStartKillRestart(t *testing.T) {
	s := Start(t)
	if got := s.MustDo("SET", "k", "v"); got != "+OK" {
		t.Fatalf("SET = %q; want +OK", got)
	}
	s.Kill()
	if _, err := s.Do("PING"); err == nil {
		t.Fatal("PING after Kill succeeded; want a connection error")
	}
	s.Restart()
	if got := s.MustDo("EXISTS", "k"); got != ":0" {
		t.Errorf("EXISTS k after a restart = %q; want :0 (nothing persisted)", got)
	}
}
