package main

// The load test's second floor: a bare bridge. The bare client (phase
// "bare provider calls") makes the order read and the payment create from
// the load generator itself; a bridge cannot do less, but it must also
// take the shopper's request and answer it, which costs an HTTP exchange
// of its own on the same two cores. The bare bridge is that and nothing
// else: a process of its own serving the EPM redirect path with the
// product's provider clients, the signed link checked, the two calls
// made, a 303 to Vipps answered; nothing stored, logged or observed.
// "ours/bare bridge" compares the product with it.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the durable bridge's SQLite

	"vippskco/bridge"
	"vippskco/vipps"
)

// loadBareBridgeEnv, set in the environment of this test binary, makes it
// the bare bridge: the value is the file it writes its address to. The
// fakes' addresses and the system headers come in loadBareFakesEnv and
// loadBareSystemEnv, as JSON.
const (
	loadBareBridgeEnv = "VIPPSKCO_LOAD_BARE_BRIDGE_ADDR"
	loadBareFakesEnv  = "VIPPSKCO_LOAD_BARE_FAKES"
	loadBareSystemEnv = "VIPPSKCO_LOAD_BARE_SYSTEM"
	loadBareStoreEnv  = "VIPPSKCO_LOAD_BARE_STORE"
)

// loadBareAddr is what the bare bridge writes to its address file.
type loadBareAddr struct{ URL string }

func loadBareBridgeMain(addrFile string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "bare bridge:", err)
		return 1
	}
	var fakes loadFakesAddrs
	if err := json.Unmarshal([]byte(os.Getenv(loadBareFakesEnv)), &fakes); err != nil {
		return fail(err)
	}
	var system vipps.SystemInfo
	if err := json.Unmarshal([]byte(os.Getenv(loadBareSystemEnv)), &system); err != nil {
		return fail(err)
	}
	secret := func(name string) string { return os.Getenv("LOADTEST_" + name) }
	kc, vc, err := newBareClients(fakes, secret, system)
	if err != nil {
		return fail(err)
	}
	var keep *bareKeeper
	if raw := os.Getenv(loadBareStoreEnv); raw != "" {
		var st loadBareStore
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			return fail(err)
		}
		if keep, err = openBareKeeper(st); err != nil {
			return fail(err)
		}
		defer keep.close()
	}
	signer := &bridge.RedirectSigner{Secret: []byte(secret("REDIRECT_SECRET")), TTL: time.Hour}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	var seq atomic.Int64

	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkout/{unit}/vipps", func(w http.ResponseWriter, r *http.Request) {
		unit, q := r.PathValue("unit"), r.URL.Query()
		order := q.Get("kco_order_id")
		if err := signer.Verify(unit, order, q.Get("sig"), time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		landing, err := bareCreateKept(kc, vc, keep, order, fmt.Sprintf("bb-%s-%d", run, seq.Add(1)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, landing, http.StatusSeeOther)
	})
	// How many attempts the durable bridge holds created: the load test
	// checks it against the redirects it counted.
	mux.HandleFunc("GET /kept", func(w http.ResponseWriter, r *http.Request) {
		if keep == nil {
			http.Error(w, "nothing is kept", http.StatusNotFound)
			return
		}
		var n int64
		if err := keep.queryRow(r.Context(), `SELECT count(*) FROM bare_attempts WHERE state = 'CREATED'`).Scan(&n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, n)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()

	raw, _ := json.Marshal(loadBareAddr{URL: "http://" + l.Addr().String()})
	if err := os.WriteFile(addrFile+".tmp", raw, 0o600); err != nil || os.Rename(addrFile+".tmp", addrFile) != nil {
		return fail(fmt.Errorf("cannot write %s: %v", addrFile, err))
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// startBareBridge starts the bare bridge on the rig's fakes and returns
// its base URL and pid. With durable, it is the durable bridge, keeping its
// attempts in a store of the kind the service runs on.
func (r *loadRig) startBareBridge(durable bool) (string, int) {
	fakes, _ := json.Marshal(r.fakes)
	s := r.cfg.System
	system, _ := json.Marshal(vipps.SystemInfo{Name: s.Name, Version: s.Version, PluginName: s.PluginName, PluginVersion: s.PluginVersion})
	env := []string{loadBareFakesEnv + "=" + string(fakes), loadBareSystemEnv + "=" + string(system)}
	name := "bare-bridge"
	if durable {
		st := loadBareStore{Driver: r.cfg.Storage.Driver, DSN: r.cfg.Storage.DSN}
		if st.Driver == "sqlite" {
			st.DSN = "file:" + filepath.Join(r.dir, "durable-bridge.db")
		}
		raw, _ := json.Marshal(st)
		env, name = append(env, loadBareStoreEnv+"="+string(raw)), "durable-bridge"
	}
	var addr loadBareAddr
	pid := r.startChild(name, loadBareBridgeEnv, env, &addr)
	return addr.URL, pid
}

// loadBareStore is where the durable bridge keeps its attempts: the
// service's PostgreSQL database (a table of its own), or a SQLite file of
// its own.
type loadBareStore struct{ Driver, DSN string }

// bareKeeper is the durable bridge's storage: what no bridge that keeps
// its promises can skip, and nothing else. Before the create it looks for
// an earlier attempt of the order (a paid order must not be paid again)
// and commits the new attempt with its idempotency key; after it, it
// commits the create's answer. Each is a statement in a transaction of its
// own, durable as the product's own store makes it: SQLite in WAL mode
// with synchronous=NORMAL and one writer, PostgreSQL with its default
// synchronous_commit. No provider log, no history, no batching.
type bareKeeper struct {
	sqlite *sql.DB
	pg     *pgxpool.Pool
}

const bareKeeperSchema = `CREATE TABLE IF NOT EXISTS bare_attempts (
	reference TEXT PRIMARY KEY,
	idempotency_key TEXT NOT NULL UNIQUE,
	kco_order_id TEXT NOT NULL,
	amount BIGINT NOT NULL,
	currency TEXT NOT NULL,
	state TEXT NOT NULL,
	redirect_url TEXT)`

func openBareKeeper(st loadBareStore) (*bareKeeper, error) {
	ctx := context.Background()
	k := &bareKeeper{}
	switch st.Driver {
	case "sqlite":
		db, err := sql.Open("sqlite", st.DSN+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)")
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(1) // SQLite has one writer; a second connection would only wait for the lock
		k.sqlite = db
	case "postgres":
		cfg, err := pgxpool.ParseConfig(st.DSN)
		if err != nil {
			return nil, err
		}
		cfg.MaxConns = 16 // the product's pool
		if k.pg, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("durable bridge: no store %q", st.Driver)
	}
	if err := k.exec(ctx, bareKeeperSchema); err != nil {
		k.close()
		return nil, err
	}
	if err := k.exec(ctx, `CREATE INDEX IF NOT EXISTS bare_attempts_order ON bare_attempts (kco_order_id)`); err != nil {
		k.close()
		return nil, err
	}
	return k, nil
}

// attempt refuses an order an attempt has paid and commits the new one.
// (The load sends the same orders again and again, and the bare bridge
// makes a new payment for each; so does this one.)
func (k *bareKeeper) attempt(ctx context.Context, reference, key, orderID string, amount int64, currency string) error {
	var n int
	if err := k.queryRow(ctx, `SELECT count(*) FROM bare_attempts WHERE kco_order_id = $1 AND state = 'AUTHORIZED'`, orderID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("durable bridge: order %s is paid", orderID)
	}
	return k.exec(ctx, `INSERT INTO bare_attempts (reference, idempotency_key, kco_order_id, amount, currency, state)
		VALUES ($1, $2, $3, $4, $5, 'PENDING')`, reference, key, orderID, amount, currency)
}

// created commits the create's answer.
func (k *bareKeeper) created(ctx context.Context, reference, redirectURL string) error {
	return k.exec(ctx, `UPDATE bare_attempts SET state = 'CREATED', redirect_url = $1 WHERE reference = $2`, redirectURL, reference)
}

func (k *bareKeeper) exec(ctx context.Context, q string, args ...any) error {
	if k.pg != nil {
		_, err := k.pg.Exec(ctx, q, args...)
		return err
	}
	_, err := k.sqlite.ExecContext(ctx, q, args...)
	return err
}

func (k *bareKeeper) queryRow(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
	if k.pg != nil {
		return k.pg.QueryRow(ctx, q, args...)
	}
	return k.sqlite.QueryRowContext(ctx, q, args...)
}

func (k *bareKeeper) close() {
	if k.pg != nil {
		k.pg.Close()
	}
	if k.sqlite != nil {
		_ = k.sqlite.Close()
	}
}

// checkKept fails the run unless the durable bridge holds an attempt for
// every redirect it answered: a floor that skipped its writes would flatter
// nobody but itself. A failed redirect may have been kept before it failed.
func (r *loadRig) checkKept(bareURL string, answered, failed int64) {
	resp, err := r.client.Get(bareURL + "/kept")
	if err != nil {
		r.tb.Fatalf("durable bridge: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	kept, err := strconv.ParseInt(string(raw), 10, 64)
	if resp.StatusCode != http.StatusOK || err != nil {
		r.tb.Fatalf("durable bridge: %s %q", resp.Status, raw)
	}
	if kept < answered || kept > answered+failed {
		r.tb.Fatalf("durable bridge: %d attempts kept for %d redirects answered (%d failed)", kept, answered, failed)
	}
}
