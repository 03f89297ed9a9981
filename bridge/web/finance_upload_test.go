package web

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"vippskco/bridge"
	"vippskco/bridge/finance"
	"vippskco/bridge/sqlite"
)

// uploadServer is the finance API on a fresh SQLite store.
func uploadServer(t *testing.T) (*httptest.Server, bridge.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "fin.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	h := &HTTP{Finance: &finance.Service{Store: st}, FinanceToken: "fin-token"}
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	return srv, st
}

func upload(t *testing.T, srv *httptest.Server, contentType string, body *bytes.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", srv.URL+"/api/v1/settlements/vipps?name=settlement-report.csv", body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer fin-token")
	req.Header.Set("Content-Type", contentType)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// TestUploadSettlementStreams: a file sent as the body or as the multipart
// field "file" is the same file (the second upload finds it imported); an
// empty body and a body over the limit are refused, and the one over the
// limit stores nothing; a body of exactly the limit is taken.
func TestUploadSettlementStreams(t *testing.T) {
	sample, err := os.ReadFile("../../vipps/settlement/testdata/csv/settlement-report.csv")
	require.NoError(t, err)

	srv, st := uploadServer(t)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	require.NoError(t, mw.WriteField("note", "a field before the file"))
	fw, err := mw.CreateFormFile("file", "settlement-report.csv")
	require.NoError(t, err)
	_, err = fw.Write(sample)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	status, out := upload(t, srv, mw.FormDataContentType(), bytes.NewReader(form.Bytes()))
	require.Equal(t, http.StatusOK, status, "%v", out)
	res := out["result"].(map[string]any)
	require.Positive(t, res["new_lines"])

	status, out = upload(t, srv, "text/csv", bytes.NewReader(sample))
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, true, out["result"].(map[string]any)["already_imported"], "the body is the same file as the multipart field")

	status, out = upload(t, srv, "text/csv", bytes.NewReader(nil))
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "file_empty", out["error"].(map[string]any)["reason"])

	srv2, st2 := uploadServer(t)
	old := maxSettlementFile
	maxSettlementFile = int64(len(sample)) - 100
	t.Cleanup(func() { maxSettlementFile = old })
	status, out = upload(t, srv2, "text/csv", bytes.NewReader(sample))
	require.Equal(t, http.StatusBadRequest, status, "%v", out)
	require.Equal(t, "file_too_large", out["error"].(map[string]any)["reason"])
	lines, err := st2.SettlementLines(context.Background(), "2000-01-01", "2100-01-01")
	require.NoError(t, err)
	require.Empty(t, lines, "nothing of a file over the limit is stored")

	maxSettlementFile = int64(len(sample))
	status, out = upload(t, srv2, "text/csv", bytes.NewReader(sample))
	require.Equal(t, http.StatusOK, status, "a file of exactly the limit is taken: %v", out)
	lines, err = st.SettlementLines(context.Background(), "2000-01-01", "2100-01-01")
	require.NoError(t, err)
	require.NotEmpty(t, lines)
	require.True(t, strings.HasPrefix(lines[0].Key, "vipps:"))
}
