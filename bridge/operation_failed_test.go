package bridge

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// landedStore is a store whose writes land and then report a conflict, once
// each: what a PostgreSQL write looks like when its connection broke after
// the server acted and the retry met its own row.
type landedStore struct {
	Store         // the methods the test does not expect are nil and panic
	mu            sync.Mutex
	payment       *Payment
	ops           map[string]*Operation
	notifications map[string]Notification
	lostUpdate    bool
	lostCommit    bool
}

func (s *landedStore) Payment(_ context.Context, ref string) (*Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := *s.payment
	return &p, nil
}

func (s *landedStore) Operation(_ context.Context, id string) (*Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, ok := s.ops[id]
	if !ok {
		return nil, ErrNotFound
	}
	c := *op
	return &c, nil
}

func (s *landedStore) UpdateOperation(_ context.Context, op *Operation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ops[op.ID].Version != op.Version {
		return ErrConflict
	}
	c := *op
	c.Version++
	s.ops[op.ID] = &c
	if s.lostUpdate {
		s.lostUpdate = false
		return ErrConflict
	}
	op.Version++
	return nil
}

func (s *landedStore) Notification(_ context.Context, id string) (*Notification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.notifications[id]
	if !ok {
		return nil, ErrNotFound
	}
	return &n, nil
}

func (s *landedStore) Commit(_ context.Context, c *Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Payment.Version != s.payment.Version {
		return ErrConflict
	}
	for _, n := range c.Notifications {
		if _, ok := s.notifications[n.ID]; ok {
			return ErrConflict
		}
		s.notifications[n.ID] = n
	}
	s.payment.Version++
	if s.lostCommit {
		s.lostCommit = false
		return ErrConflict
	}
	c.Payment.Version++
	return nil
}

// An operation we started ourselves (a direct capture) that Vipps refuses
// is stored failed and told to the merchant exactly once, even when both
// writes land but answer with a conflict.
func TestOperationFailedNotifiedOnceWhenWritesLandUnseen(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		lostUpdate, lostCommit bool
	}{
		{"writes answered", false, false},
		{"final state landed unseen", true, false},
		{"notification landed unseen", false, true},
		{"both landed unseen", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
			op := &Operation{ID: "op-1", Reference: "ws-1-1", Kind: OpCapture, Source: SourceDirectCapture,
				State: OperationPending, Amount: Money{Value: 100, Currency: "NOK"}, CreatedAt: now, Version: 1}
			st := &landedStore{
				payment:       &Payment{Reference: "ws-1-1", Unit: "webshop", Amount: Money{Value: 100, Currency: "NOK"}, State: StateAuthorized, Version: 3},
				ops:           map[string]*Operation{"op-1": func() *Operation { c := *op; return &c }()},
				notifications: map[string]Notification{},
				lostUpdate:    tc.lostUpdate, lostCommit: tc.lostCommit,
			}
			s := &Service{Store: st, Now: func() time.Time { return now }}
			done, err := s.fail(t.Context(), op, http.StatusUnprocessableEntity, "vipps_refused", "refused", nil)
			require.NoError(t, err)
			require.Equal(t, OperationFailed, done.State)
			require.Equal(t, OperationFailed, st.ops["op-1"].State)
			var failed int
			for _, n := range st.notifications {
				if n.Type == "operation.failed" {
					failed++
				}
			}
			require.Equal(t, 1, failed, "one operation.failed notification")
		})
	}
}
