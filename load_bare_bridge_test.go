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
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

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
		landing, err := bareCreate(kc, vc, order, fmt.Sprintf("bb-%s-%d", run, seq.Add(1)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, r, landing, http.StatusSeeOther)
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
// its base URL and pid.
func (r *loadRig) startBareBridge() (string, int) {
	fakes, _ := json.Marshal(r.fakes)
	s := r.cfg.System
	system, _ := json.Marshal(vipps.SystemInfo{Name: s.Name, Version: s.Version, PluginName: s.PluginName, PluginVersion: s.PluginVersion})
	var addr loadBareAddr
	pid := r.startChild("bare-bridge", loadBareBridgeEnv,
		[]string{loadBareFakesEnv + "=" + string(fakes), loadBareSystemEnv + "=" + string(system)}, &addr)
	return addr.URL, pid
}
