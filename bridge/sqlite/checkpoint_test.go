package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The writer leaves checkpoints to the checkpointer: its own threshold is
// far above what a busy minute writes, and the log is copied back in the
// background, so no commit waits for a copy.
func TestCheckpointsRunBesideTheWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cp.db")
	s, err := Open(ctx, "file:"+path, nil)
	require.NoError(t, err)
	defer s.Close()

	var writerPages int
	require.NoError(t, s.write.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&writerPages))
	require.Equal(t, writerCheckpointPages, writerPages)

	// More commits than the default threshold (1,000 pages) would let
	// the writer take, each changing pages of its own.
	until := time.Now().Add(time.Hour)
	for i := range 1500 {
		_, err := s.SeenWebhook(ctx, fmt.Sprintf("HMAC-SHA256 Signature=%s-%d", strings.Repeat("x", 200), i), until)
		require.NoError(t, err)
	}
	wal, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	require.Greater(t, wal.Size(), int64(1000*4096), "the writer checkpointed by itself")

	// The checkpointer copies it all back without a writer's help.
	require.Eventually(t, func() bool {
		s.checkpoints.mu.Lock()
		defer s.checkpoints.mu.Unlock()
		return s.checkpoints.copied*4096 >= wal.Size()-4096
	}, 5*time.Second, 20*time.Millisecond, "the checkpointer did not copy the log back")

	// After a checkpoint the next commit starts the log again from its
	// beginning and the file is cut back to walLimitBytes at most.
	_, err = s.SeenWebhook(ctx, "HMAC-SHA256 Signature=after", until)
	require.NoError(t, err)
	wal, err = os.Stat(path + "-wal")
	require.NoError(t, err)
	require.LessOrEqual(t, wal.Size(), int64(walLimitBytes))

	// The service closes its store on the way out and again when it
	// gives up waiting for the first close: both return.
	require.NoError(t, s.Close())
	require.NotPanics(t, func() { _ = s.Close() })
}
