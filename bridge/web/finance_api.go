package web

import (
	"bufio"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"vippskco/bridge"
	"vippskco/bridge/finance"
	"vippskco/bridge/reconcile"
	"vippskco/klarna"
)

// maxSettlementFile bounds an uploaded settlement file. It bounds the
// time an upload takes, not memory: the body streams into the import. A
// variable, so that a test can lower it.
var maxSettlementFile int64 = 256 << 20

// financeAuth accepts the finance token as a bearer token, or, for reading
// only (GET and HEAD), as the password of HTTP Basic so that a person can
// open /finance in a browser. A browser sends remembered Basic credentials
// with any request to us, also one another site makes it send (a form
// posting a text/plain body is a CSV upload), so a write takes the bearer
// token only, which no other site can make a browser send; and a write a
// browser says comes from another site is refused whatever it carries.
// Once the token is checked, the request has the long deadline: uploads
// and syncs take minutes.
func (h *HTTP) financeAuth(c *gin.Context) {
	write := c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead
	if write {
		if why := h.crossSite(c.Request); why != "" {
			writeJSONError(c, bridge.Errorf(bridge.ECodeForbidden, "cross_site", "finance writes are not accepted from another site (%s)", why))
			c.Abort()
			return
		}
	}
	want := h.FinanceToken
	got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	basic := false
	if !ok {
		_, got, ok = c.Request.BasicAuth()
		basic = ok
	}
	if !ok || want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		c.Header("WWW-Authenticate", `Basic realm="vippskco finance", charset="UTF-8"`)
		writeJSONError(c, bridge.Errorf(bridge.ECodeUnauthorized, "", "the finance token is required"))
		c.Abort()
		return
	}
	if basic && write {
		c.Header("WWW-Authenticate", `Bearer realm="vippskco finance"`)
		writeJSONError(c, bridge.Errorf(bridge.ECodeUnauthorized, "bearer_required",
			"HTTP Basic is for reading /finance; imports and syncs take the finance token as a bearer token (Authorization: Bearer ...)"))
		c.Abort()
		return
	}
	h.extendDeadline(c)
	c.Next()
}

// crossSite says why r comes from a page of another origin, or "": the
// browser's Sec-Fetch-Site when it is anything but same-origin (or none: a
// typed URL, a bookmark), and an Origin that is not the service's own.
// Clients that are not browsers send neither.
func (h *HTTP) crossSite(r *http.Request) string {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return "Sec-Fetch-Site: " + bridge.Quote(site)
	}
	if origin := r.Header.Get("Origin"); origin != "" && origin != h.publicOrigin() {
		return "Origin " + bridge.Quote(origin)
	}
	return ""
}

// publicOrigin is the origin (scheme://host[:port]) of the service's
// public URL, or "" when there is none.
func (h *HTTP) publicOrigin() string {
	if h.Service == nil {
		return ""
	}
	u, err := url.Parse(h.Service.PublicURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
	if port := u.Port(); port != "" && !(scheme == "https" && port == "443") && !(scheme == "http" && port == "80") {
		host = net.JoinHostPort(host, port)
	}
	return scheme + "://" + host
}

// uploadSettlement is POST /api/v1/settlements/{provider}: the file as the
// body (or as the multipart field "file"), its name in ?name=.
//
// The body is never held in memory: it streams into the import, which
// parses and stores it in batches (an XLSX, a zip, is written to a
// temporary file first). More than maxSettlementFile bytes fail the
// import, which then stores nothing.
func (h *HTTP) uploadSettlement(c *gin.Context) error {
	provider := c.Param("provider")
	if provider != string(reconcile.Vipps) && provider != string(reconcile.Kustom) {
		return bridge.Errorf(bridge.ECodeNotFound, "unknown_provider", "provider must be vipps or kustom, not %s", bridge.Quote(provider))
	}
	name := c.Query("name")
	body := &cappedReader{r: c.Request.Body, left: maxSettlementFile}
	var file io.Reader = body
	if strings.HasPrefix(c.ContentType(), "multipart/form-data") {
		part, err := filePart(c.Request, body)
		if err != nil {
			return err
		}
		if name == "" {
			name = part.FileName()
		}
		file = part
	}
	br := bufio.NewReader(file)
	if _, err := br.Peek(1); err == io.EOF {
		return bridge.Errorf(bridge.ECodeInvalid, "file_empty", "the file is empty")
	} else if err != nil {
		return tooLarge(body, bridge.Errorf(bridge.ECodeInvalid, "file_unreadable", "the file could not be read: %v", err))
	}
	if name == "" {
		name = provider + "-upload-" + time.Now().UTC().Format("20060102T150405Z")
	}
	var res bridge.ImportResult
	var warnings []string
	var err error
	if provider == string(reconcile.Vipps) {
		res, warnings, err = h.Finance.ImportVippsFile(c.Request.Context(), name, br, nil)
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
		res, err = h.Finance.ImportKustomCSV(c.Request.Context(), name, br, opt, nil)
	}
	if err != nil {
		return tooLarge(body, err)
	}
	c.JSON(http.StatusOK, gin.H{"provider": provider, "source": name, "result": res, "warnings": reconcile.OrEmpty(warnings)})
	return nil
}

// filePart finds the multipart field "file" of a request whose body is
// read through body, and returns it to be read as a stream.
func filePart(req *http.Request, body io.Reader) (*multipart.Part, error) {
	_, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return nil, bridge.Errorf(bridge.ECodeInvalid, "file_missing", "the multipart field \"file\" is required: no multipart boundary")
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			return nil, bridge.Errorf(bridge.ECodeInvalid, "file_missing", "the multipart field \"file\" is required: %v", err)
		}
		if part.FormName() == "file" {
			return part, nil
		}
	}
}

// cappedReader reads at most left bytes and then fails, remembering that
// it did, so that the failure is told as such whatever the parser makes
// of it.
type cappedReader struct {
	r    io.Reader
	left int64
	over bool
}

func (r *cappedReader) Read(b []byte) (int, error) {
	if r.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		for {
			n, err := r.r.Read(one[:])
			if n > 0 {
				r.over = true
				return 0, errTooLarge
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(b)) > r.left {
		b = b[:r.left]
	}
	n, err := r.r.Read(b)
	r.left -= int64(n)
	return n, err
}

var errTooLarge = errors.New("the file is larger than the upload limit")

// tooLarge is err, unless the body went over the limit: then that is the
// error, whatever the parser or the store made of it.
func tooLarge(body *cappedReader, err error) error {
	if body.over {
		return bridge.Errorf(bridge.ECodeInvalid, "file_too_large", "the file could not be read (at most %d MiB)", maxSettlementFile>>20)
	}
	return err
}

func (h *HTTP) syncSettlements(c *gin.Context) error {
	from, to := c.Query("from"), c.Query("to")
	for _, d := range []string{from, to} {
		if d != "" {
			if _, err := time.Parse("2006-01-02", d); err != nil {
				return bridge.Errorf(bridge.ECodeInvalid, "bad_date", "dates must be YYYY-MM-DD, not %s", bridge.Quote(d))
			}
		}
	}
	res, err := h.Finance.SyncSettlements(c.Request.Context(), from, to)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"syncs": reconcile.OrEmpty(res)})
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
	format := c.DefaultQuery("format", "json")
	if format != "json" && format != "csv" {
		return bridge.Errorf(bridge.ECodeInvalid, "bad_format", "format must be json or csv")
	}
	dialect, err := finance.ParseCSVDialect(c.Query("dialect"))
	if err != nil {
		return err
	}
	r, err := h.Finance.Reconcile(c.Request.Context(), from, to)
	if err != nil {
		return err
	}
	switch format {
	case "json":
		c.Header("Content-Type", "application/json; charset=utf-8")
		c.Status(http.StatusOK)
		enc := json.NewEncoder(c.Writer)
		_ = enc.Encode(r)
	case "csv":
		c.Header("Content-Type", "text/csv; charset=utf-8")
		name := "reconciliation-" + from + "-" + to + ".csv"
		if dialect == finance.DialectNO {
			name = "avstemming-" + from + "-" + to + ".csv"
		}
		c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
		c.Status(http.StatusOK)
		_ = finance.WriteCSV(c.Writer, r, dialect)
	default:
		return bridge.Errorf(bridge.ECodeInvalid, "bad_format", "format must be json or csv")
	}
	return nil
}
