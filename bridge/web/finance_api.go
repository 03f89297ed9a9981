package web

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"vippskco/bridge"
	"vippskco/bridge/reconcile"
	"vippskco/klarna"
)

// maxSettlementFile bounds an uploaded settlement file.
const maxSettlementFile = 256 << 20

// financeAuth accepts the finance token as a bearer token, or as the
// password of HTTP Basic so that a person can open /finance in a browser.
func (h *HTTP) financeAuth(c *gin.Context) {
	want := h.FinanceToken
	got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok {
		_, got, ok = c.Request.BasicAuth()
	}
	if !ok || want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		c.Header("WWW-Authenticate", `Basic realm="vippskco finance", charset="UTF-8"`)
		writeJSONError(c, bridge.Errorf(bridge.ECodeUnauthorized, "", "the finance token is required"))
		c.Abort()
		return
	}
	c.Next()
}

// uploadSettlement is POST /api/v1/settlements/{provider}: the file as the
// body (or as the multipart field "file"), its name in ?name=.
func (h *HTTP) uploadSettlement(c *gin.Context) error {
	provider := c.Param("provider")
	if provider != string(reconcile.Vipps) && provider != string(reconcile.Kustom) {
		return bridge.Errorf(bridge.ECodeNotFound, "unknown_provider", "provider must be vipps or kustom, not %q", provider)
	}
	name := c.Query("name")
	var data []byte
	var err error
	if strings.HasPrefix(c.ContentType(), "multipart/form-data") {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxSettlementFile)
		fh, ferr := c.FormFile("file")
		if ferr != nil {
			return bridge.Errorf(bridge.ECodeInvalid, "file_missing", "the multipart field \"file\" is required: %v", ferr)
		}
		if name == "" {
			name = fh.Filename
		}
		f, oerr := fh.Open()
		if oerr != nil {
			return oerr
		}
		defer f.Close()
		data, err = io.ReadAll(f)
	} else {
		data, err = io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxSettlementFile))
	}
	if err != nil {
		return bridge.Errorf(bridge.ECodeInvalid, "file_too_large", "the file could not be read (at most 256 MiB): %v", err)
	}
	if len(data) == 0 {
		return bridge.Errorf(bridge.ECodeInvalid, "file_empty", "the file is empty")
	}
	if name == "" {
		name = provider + "-upload-" + time.Now().UTC().Format("20060102T150405Z")
	}
	var res bridge.ImportResult
	var warnings []string
	if provider == string(reconcile.Vipps) {
		res, warnings, err = h.Finance.ImportVippsFile(c.Request.Context(), name, data)
	} else {
		opt := klarna.CSVOptions{}
		switch c.Query("separator") {
		case "":
		case ";", "semicolon":
			opt.Separator = ';'
		case ",", "comma":
			opt.Separator = ','
		default:
			return bridge.Errorf(bridge.ECodeInvalid, "bad_separator", "separator must be ; or ,")
		}
		if cols := c.Query("columns"); cols != "" {
			opt.Columns = strings.Split(cols, ",")
		}
		res, err = h.Finance.ImportKustomCSV(c.Request.Context(), name, data, opt)
	}
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"provider": provider, "source": name, "result": res, "warnings": warnings})
	return nil
}

func (h *HTTP) syncSettlements(c *gin.Context) error {
	from, to := c.Query("from"), c.Query("to")
	for _, d := range []string{from, to} {
		if d != "" {
			if _, err := time.Parse("2006-01-02", d); err != nil {
				return bridge.Errorf(bridge.ECodeInvalid, "bad_date", "dates must be YYYY-MM-DD, not %q", d)
			}
		}
	}
	res, err := h.Finance.SyncSettlements(c.Request.Context(), from, to)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"syncs": res})
	return nil
}

// period reads ?from=&to=, defaulting to the last 30 days.
func (h *HTTP) period(c *gin.Context) (string, string) {
	to := c.Query("to")
	if to == "" {
		to = h.Finance.Today()
	}
	from := c.Query("from")
	if from == "" {
		if t, err := time.Parse("2006-01-02", to); err == nil {
			from = t.AddDate(0, 0, -30).Format("2006-01-02")
		}
	}
	return from, to
}

func (h *HTTP) reconciliation(c *gin.Context) error {
	from, to := h.period(c)
	r, err := h.Finance.Reconcile(c.Request.Context(), from, to)
	if err != nil {
		return err
	}
	switch c.DefaultQuery("format", "json") {
	case "json":
		c.Header("Content-Type", "application/json; charset=utf-8")
		c.Status(http.StatusOK)
		enc := json.NewEncoder(c.Writer)
		_ = enc.Encode(r)
	case "csv":
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", `attachment; filename="reconciliation-`+from+`-`+to+`.csv"`)
		c.Status(http.StatusOK)
		_ = r.WriteCSV(c.Writer)
	default:
		return bridge.Errorf(bridge.ECodeInvalid, "bad_format", "format must be json or csv")
	}
	return nil
}
