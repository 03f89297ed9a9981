package vippstest

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"

	"github.com/google/uuid"
)

// The helpers below read the server's seeded generator and must be called
// with s.mu held (or before the server is shared).

func (s *Server) randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = s.rnd.Read(b) // ChaCha8.Read never fails
	return b
}

func (s *Server) randUint64() uint64 { return s.rnd.Uint64() }

// randToken is an unguessable URL-safe string.
func (s *Server) randToken(n int) string {
	return base64.RawURLEncoding.EncodeToString(s.randBytes(n))
}

func (s *Server) newUUID() string {
	id, err := uuid.NewRandomFromReader(s.rnd)
	if err != nil {
		panic("vippstest: reading the seeded generator: " + err.Error())
	}
	return id.String()
}

// traceID has the W3C traceparent shape that Vipps puts in problem bodies.
func (s *Server) traceID() string {
	return "00-" + hex.EncodeToString(s.randBytes(16)) + "-" + hex.EncodeToString(s.randBytes(8)) + "-01"
}

// newPSPReference is the numeric per-event id, like "2018200034" in the
// event-log examples. It only grows, so every event has its own.
func (s *Server) newPSPReference() string {
	s.nextPSP += 1 + int64(s.randUint64()%7)
	return strconv.FormatInt(s.nextPSP, 10)
}
