package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// parseJSON reads vasactl's -o json output back into m.
func parseJSON(t *testing.T, out string, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal([]byte(out), m); err != nil {
		t.Fatalf("-o json output does not parse as %T: %v\n%s", m, err, out)
	}
}

// parseYAML reads vasactl's -o yaml output back into m, through JSON.
func parseYAML(t *testing.T, out string, m proto.Message) {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("-o yaml output does not parse: %v\n%s", err, out)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(b, m); err != nil {
		t.Fatalf("-o yaml output does not read as %T: %v\n%s", m, err, out)
	}
}

// parseOutput reads vasactl's -o format output (json or yaml) back into m.
func parseOutput(t *testing.T, format, out string, m proto.Message) {
	t.Helper()
	if format == "json" {
		parseJSON(t, out, m)
	} else {
		parseYAML(t, out, m)
	}
}

// TestProvidersListFormats: the table, and json and yaml that parse back
// into the same providers.
func TestProvidersListFormats(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	env := noConfig(t)

	r := g.run(t, env, "providers", "list")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[0], "ID ") {
		t.Fatalf("want a header and 6 rows:\n%s", r.stdout)
	}
	contains(t, "table", r.stdout, "vp-2   array-b    disconnected   valid", "vp-3   array-c    disconnected   expired")

	for _, format := range []string{"json", "yaml"} {
		r := g.run(t, env, "providers", "list", "-o", format)
		if r.code != 0 {
			t.Fatalf("-o %s: exit %d: %s", format, r.code, r.stderr)
		}
		var resp vasagwv1.ListVasaProvidersResponse
		parseOutput(t, format, r.stdout, &resp)
		if len(resp.GetVasaProviders()) != 6 {
			t.Fatalf("-o %s: %d providers, want 6", format, len(resp.GetVasaProviders()))
		}
		p := resp.GetVasaProviders()[1]
		if p.GetName() != "vcenters/default/vasaProviders/vp-2" || p.GetStatus() != vasagwv1.VasaProvider_STATUS_DISCONNECTED {
			t.Errorf("-o %s: second provider %v", format, p)
		}
	}
}

// TestProvidersGetFormats: short ids and full names, in every format.
func TestProvidersGetFormats(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	env := noConfig(t)

	for _, arg := range []string{"vp-3", "vcenters/default/vasaProviders/vp-3"} {
		r := g.run(t, env, "providers", "get", arg)
		if r.code != 0 {
			t.Fatalf("get %s: exit %d: %s", arg, r.code, r.stderr)
		}
		contains(t, "get "+arg, r.stdout, "vcenters/default/vasaProviders/vp-3", "array-c", "expired",
			"Status fault:", "INVALID_CERTIFICATE", "vasactl providers recover vp-3")
	}
	for _, format := range []string{"json", "yaml"} {
		r := g.run(t, env, "-o", format, "providers", "get", "vp-1")
		if r.code != 0 {
			t.Fatalf("-o %s: exit %d: %s", format, r.code, r.stderr)
		}
		var p vasagwv1.VasaProvider
		parseOutput(t, format, r.stdout, &p)
		if p.GetDisplayName() != "array-a" || p.GetStatus() != vasagwv1.VasaProvider_STATUS_CONNECTED || p.GetVasaVersion() != "3.0" {
			t.Errorf("-o %s: %v", format, &p)
		}
	}
}

// TestExitStatusPerFaultClass: each class of failure exits with the status
// of its gRPC code (or vasactl's own), and says why on stderr.
func TestExitStatusPerFaultClass(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	env := noConfig(t)
	missing := filepath.Join(t.TempDir(), "missing")
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"invalid certificate", []string{"providers", "reconnect", "vp-3"}, 19, []string{"INVALID_CERTIFICATE (FAILED_PRECONDITION)"}},
		{"provider unreachable", []string{"providers", "reconnect", "vp-4"}, 24, []string{"PROVIDER_CONNECTION_FAILED (UNAVAILABLE)", "retry after:"}},
		{"VASA 1.0", []string{"providers", "reconnect", "vp-6"}, 19, []string{"VASA_VERSION_UNSUPPORTED"}},
		{"provider not found", []string{"providers", "get", "vp-404"}, 15, []string{"PROVIDER_NOT_FOUND (NOT_FOUND)"}},
		{"task not found", []string{"tasks", "get", "SmsTask-404"}, 15, []string{"TASK_NOT_FOUND (NOT_FOUND)"}},
		{"task watch not found", []string{"tasks", "watch", "SmsTask-404"}, 15, []string{"TASK_NOT_FOUND"}},
		{"task failed while waiting", []string{"providers", "reconnect", "vp-5", "--wait"}, 24, []string{"PROVIDER_CONNECTION_FAILED", "Could not connect to VASA provider array-e"}},
		{"bad name", []string{"providers", "get", "a/b"}, 2, []string{"short id"}},
		{"bad output", []string{"providers", "list", "-o", "xml"}, 2, []string{"want table, json or yaml"}},
		{"unknown command", []string{"providers", "frobnicate"}, 2, []string{"Run 'vasactl --help'"}},
		{"missing argument", []string{"providers", "get"}, 2, []string{"accepts 1 arg"}},
		{"unreadable password file", []string{"providers", "recover", "vp-3", "--username", "u", "--password-file", missing}, 1, []string{"--password-file"}},
		{"no password without a terminal", []string{"providers", "recover", "vp-3", "--username", "u"}, 2, []string{"--password-file is required"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := g.run(t, env, c.args...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, c.code, r.stdout, r.stderr)
			}
			contains(t, "stderr", r.stderr, c.stderr...)
		})
	}
	t.Run("gateway unreachable", func(t *testing.T) {
		t.Parallel()
		var out, errOut syncBuffer
		code := runIO(context.Background(), env, &out, &errOut, "--plaintext", "--addr", "127.0.0.1:1", "providers", "list")
		if code != 24 {
			t.Errorf("exit %d, want 24 (UNAVAILABLE): %s", code, errOut.String())
		}
	})
}

// TestInvalidCertificateShowsRecovery: the three recovery steps from Help
// and the one command that does them, on stderr.
func TestInvalidCertificateShowsRecovery(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := g.run(t, noConfig(t), "providers", "reconnect", "vp-3")
	if r.code != 19 {
		t.Fatalf("exit %d, want 19", r.code)
	}
	if r.stdout != "" {
		t.Errorf("stdout should be empty on failure: %q", r.stdout)
	}
	contains(t, "stderr", r.stderr,
		"Error: The storage provider's certificate has expired",
		"reason:   INVALID_CERTIFICATE (FAILED_PRECONDITION)",
		"resource: vcenters/default/vasaProviders/vp-3",
		"certificate SHA-256 fingerprint: ",
		"1. Step 1: unregister the provider",
		"2. Step 2: provision a new self-signed certificate",
		"3. Step 3: register the provider again",
		"vCenter fault: InvalidCertificate",
		"vasactl providers recover vp-3 --username USER --password-file FILE --wait",
	)
	if strings.Contains(r.stderr, "BEGIN CERTIFICATE") {
		t.Error("the certificate PEM is printed; its fingerprint is enough")
	}
}

// TestReconnectWaitOutputFormats: with --wait and -o json or yaml, stdout
// holds only the terminal task, which parses back; progress lines go to
// stderr.
func TestReconnectWaitOutputFormats(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	env := noConfig(t)
	for _, format := range []string{"json", "yaml"} {
		r := g.run(t, env, "providers", "reconnect", "vp-1", "--wait", "-o", format)
		if r.code != 0 {
			t.Fatalf("-o %s: exit %d: %s", format, r.code, r.stderr)
		}
		var task vasagwv1.Task
		parseOutput(t, format, r.stdout, &task)
		if task.GetState() != vasagwv1.Task_STATE_SUCCEEDED || task.GetTarget() != "vcenters/default/vasaProviders/vp-1" {
			t.Errorf("-o %s: %v", format, &task)
		}
		contains(t, "stderr", r.stderr, "progress 100%\nsucceeded\n")
	}
}

// TestTasksGetAndWatch: a task started without --wait is printed with the
// command that follows it; `tasks get` and `tasks watch` take its short id
// and its full name.
func TestTasksGetAndWatch(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	env := noConfig(t)

	r := g.run(t, env, "-o", "json", "providers", "reconnect", "vp-2")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var started vasagwv1.Task
	parseJSON(t, r.stdout, &started)
	id := started.GetName()[strings.LastIndexByte(started.GetName(), '/')+1:]
	contains(t, "stderr", r.stderr, "watch it: vasactl tasks watch "+id)

	w := g.run(t, env, "tasks", "watch", id)
	if w.code != 0 {
		t.Fatalf("tasks watch: exit %d: %s", w.code, w.stderr)
	}
	contains(t, "tasks watch", w.stdout, started.GetName()+": reconnect vcenters/default/vasaProviders/vp-2\n", "progress 100%\nsucceeded\n")

	table := g.run(t, env, "tasks", "get", id)
	contains(t, "tasks get", table.stdout, "STATE", id, "succeeded", "vcenters/default/vasaProviders/vp-2")
	for _, format := range []string{"json", "yaml"} {
		r := g.run(t, env, "-o", format, "tasks", "get", started.GetName())
		if r.code != 0 {
			t.Fatalf("-o %s: exit %d: %s", format, r.code, r.stderr)
		}
		var task vasagwv1.Task
		parseOutput(t, format, r.stdout, &task)
		if task.GetName() != started.GetName() || task.GetState() != vasagwv1.Task_STATE_SUCCEEDED || task.GetCompletionTime() == nil {
			t.Errorf("-o %s: %v", format, &task)
		}
	}

	// A failed task shows its error under the table, and the exit status
	// of `tasks get` is 0: the call succeeded.
	r = g.run(t, env, "-o", "json", "providers", "reconnect", "vp-5")
	parseJSON(t, r.stdout, &started)
	w = g.run(t, env, "tasks", "watch", started.GetName())
	if w.code != 24 {
		t.Errorf("tasks watch of a failing task: exit %d, want 24", w.code)
	}
	table = g.run(t, env, "tasks", "get", started.GetName())
	if table.code != 0 {
		t.Errorf("tasks get of a failed task: exit %d", table.code)
	}
	contains(t, "tasks get", table.stdout, "failed", "Task error: ", "PROVIDER_CONNECTION_FAILED")
}

// TestInterruptStopsWaitingNotTheTask: Ctrl-C during --wait exits 130,
// says the task goes on and how to watch it again, and the task does go on
// to succeed.
func TestInterruptStopsWaitingNotTheTask(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	env := noConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	// "Ctrl-C" as soon as the wait has shown the task.
	out.onWrite = func(s string) {
		if strings.Contains(s, ": reconnect vcenters/default/vasaProviders/vp-2\n") {
			cancel()
		}
	}
	code := runIO(ctx, env, &out, &errOut, "--plaintext", "--addr", g.addr, "providers", "reconnect", "vp-2", "--wait")
	if code != 130 {
		t.Fatalf("exit %d, want 130\n%s\n%s", code, out.String(), errOut.String())
	}
	contains(t, "stderr", errOut.String(), "Stopped waiting (interrupted); the task goes on in the gateway: vcenters/default/tasks/", "watch it again: vasactl tasks watch SmsTask-")
	if strings.Contains(out.String(), "succeeded") {
		t.Fatalf("the wait did not stop:\n%s", out.String())
	}
	id := errOut.String()[strings.LastIndex(errOut.String(), "SmsTask-"):]
	id = strings.TrimSpace(id)
	w := g.run(t, env, "tasks", "watch", id)
	if w.code != 0 || !strings.Contains(w.stdout, "succeeded") {
		t.Errorf("the task did not go on: exit %d\n%s%s", w.code, w.stdout, w.stderr)
	}
}

// TestConfigFileAndPrecedence: the config file gives the connection; a
// VASACTL_ADDR beats the file; a flag beats both.
func TestConfigFileAndPrecedence(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vasactl", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	list := func(env map[string]string, args ...string) int {
		var out, errOut syncBuffer
		return runIO(context.Background(), env, &out, &errOut, append(args, "providers", "get", "vp-1")...)
	}
	write("addr: " + g.addr + "\nplaintext: true\n")
	xdg := map[string]string{"XDG_CONFIG_HOME": dir}
	if code := list(xdg); code != 0 {
		t.Errorf("config file in $XDG_CONFIG_HOME: exit %d", code)
	}
	if code := list(map[string]string{"HOME": t.TempDir()}, "--config", cfg); code != 0 {
		t.Errorf("--config: exit %d", code)
	}
	if code := list(map[string]string{"VASACTL_CONFIG": cfg}); code != 0 {
		t.Errorf("VASACTL_CONFIG: exit %d", code)
	}
	// VASACTL_ADDR wins over the file, a flag over both.
	bad := map[string]string{"XDG_CONFIG_HOME": dir, "VASACTL_ADDR": "127.0.0.1:1"}
	if code := list(bad); code != 24 {
		t.Errorf("VASACTL_ADDR over the file: exit %d, want 24", code)
	}
	if code := list(bad, "--addr", g.addr); code != 0 {
		t.Errorf("--addr over VASACTL_ADDR: exit %d", code)
	}
	// The file's plaintext: true is overridden by --plaintext=false: TLS to a
	// plaintext server fails.
	if code := list(xdg, "--plaintext=false"); code != 24 {
		t.Errorf("--plaintext=false over the file: exit %d, want 24", code)
	}
	// --vcenter from the file resolves short names.
	write("addr: " + g.addr + "\nplaintext: true\nvcenter: east\n")
	var out, errOut syncBuffer
	code := runIO(context.Background(), xdg, &out, &errOut, "providers", "get", "vp-1")
	if code != 15 || !strings.Contains(errOut.String(), "vcenters/east/vasaProviders/vp-1") {
		t.Errorf("vcenter from the file: exit %d, want 15 for vcenters/east\n%s", code, errOut.String())
	}
	// A config file that does not parse is a local failure naming it.
	write("addr: [\n")
	out, errOut = syncBuffer{}, syncBuffer{}
	if code := runIO(context.Background(), xdg, &out, &errOut, "providers", "list"); code != 1 || !strings.Contains(errOut.String(), cfg) {
		t.Errorf("bad config file: exit %d\n%s", code, errOut.String())
	}
	write("adress: x\n")
	out, errOut = syncBuffer{}, syncBuffer{}
	if code := runIO(context.Background(), xdg, &out, &errOut, "providers", "list"); code != 1 || !strings.Contains(errOut.String(), "adress") {
		t.Errorf("unknown key in config file: exit %d\n%s", code, errOut.String())
	}
}

// TestCompletionAndHelp: cobra's shell completion, and --help documents the
// exit statuses.
func TestCompletionAndHelp(t *testing.T) {
	t.Parallel()
	var out, errOut syncBuffer
	if code := runIO(context.Background(), noConfig(t), &out, &errOut, "completion", "bash"); code != 0 {
		t.Fatalf("completion bash: exit %d: %s", code, errOut.String())
	}
	contains(t, "completion bash", out.String(), "__start_vasactl")
	// Tab after `providers reconnect` offers the gateway's providers.
	g := startGateway(t)
	out = syncBuffer{}
	if code := runIO(context.Background(), noConfig(t), &out, &errOut, "__complete", "--plaintext", "--addr", g.addr, "providers", "reconnect", "vp-"); code != 0 {
		t.Fatalf("__complete: exit %d: %s", code, errOut.String())
	}
	contains(t, "completion of providers", out.String(), "vp-1\tarray-a\n", "vp-6\tlegacy-f\n", ":4\n")
	out = syncBuffer{}
	if code := runIO(context.Background(), noConfig(t), &out, &errOut, "--help"); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	contains(t, "--help", out.String(), "Exit status:", "19 FAILED_PRECONDITION", "24 UNAVAILABLE", "130  interrupted", "providers", "vcenters", "tasks", "completion")
	out = syncBuffer{}
	runIO(context.Background(), noConfig(t), &out, &errOut, "providers", "--help")
	contains(t, "providers --help", out.String(), "reconnect", "sync", "refresh-certificate", "register", "unregister", "recover", "watch")
}

// TestVCenters: list and get in every format; an unknown vCenter is
// NOT_FOUND.
func TestVCenters(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	env := noConfig(t)
	// A first call logs the gateway in to the simulator.
	if r := g.run(t, env, "providers", "get", "vp-1"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	r := g.run(t, env, "vcenters", "list")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	contains(t, "vcenters list", r.stdout, "ID ", "STATE", "SMS VERSION", "\ndefault   ready   ", g.sim.URL.String())
	for _, format := range []string{"json", "yaml"} {
		r := g.run(t, env, "-o", format, "vcenters", "list")
		var resp vasagwv1.ListVCentersResponse
		parseOutput(t, format, r.stdout, &resp)
		if len(resp.GetVcenters()) != 1 || resp.GetVcenters()[0].GetName() != "vcenters/default" || resp.GetVcenters()[0].GetState() != vasagwv1.VCenter_STATE_READY {
			t.Errorf("-o %s: %v", format, &resp)
		}
		for _, arg := range []string{"default", "vcenters/default"} {
			r = g.run(t, env, "-o", format, "vcenters", "get", arg)
			var vc vasagwv1.VCenter
			parseOutput(t, format, r.stdout, &vc)
			if vc.GetName() != "vcenters/default" || vc.GetUrl() != g.sim.URL.String() || vc.GetLastReadyTime() == nil || vc.GetSmsVersion() == "" {
				t.Errorf("-o %s get %s: %v", format, arg, &vc)
			}
		}
	}
	r = g.run(t, env, "vcenters", "get", "east")
	if r.code != 15 {
		t.Errorf("unknown vCenter: exit %d, want 15", r.code)
	}
	contains(t, "stderr", r.stderr, "VCENTER_NOT_FOUND (NOT_FOUND)", "resource: vcenters/east")
	// A short name in another vCenter (--vcenter) is NOT_FOUND the same way.
	r = g.run(t, env, "--vcenter", "east", "providers", "get", "vp-1")
	if r.code != 15 || !strings.Contains(r.stderr, "VCENTER_NOT_FOUND") {
		t.Errorf("--vcenter east: exit %d\n%s", r.code, r.stderr)
	}
}

// TestSeveralVCenters: with vCenters east and west beside default, vcenters
// list shows all three, --vcenter resolves short names in another one, and
// a full name works whatever --vcenter says.
func TestSeveralVCenters(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "--simulate-vcenters=east,west")
	env := noConfig(t)
	r := g.run(t, env, "-o", "json", "vcenters", "list")
	var resp vasagwv1.ListVCentersResponse
	parseJSON(t, r.stdout, &resp)
	var names []string
	for _, vc := range resp.GetVcenters() {
		names = append(names, vc.GetName())
	}
	if strings.Join(names, " ") != "vcenters/default vcenters/east vcenters/west" {
		t.Errorf("vcenters %v", names)
	}
	r = g.run(t, env, "--vcenter", "east", "-o", "json", "providers", "get", "vp-2")
	var p vasagwv1.VasaProvider
	parseJSON(t, r.stdout, &p)
	if p.GetName() != "vcenters/east/vasaProviders/vp-2" {
		t.Errorf("--vcenter east get vp-2: %v", &p)
	}
	r = g.run(t, env, "--vcenter", "west", "providers", "reconnect", "vcenters/east/vasaProviders/vp-1", "--wait")
	contains(t, "full name", r.stdout, "vcenters/east/tasks/", ": reconnect vcenters/east/vasaProviders/vp-1\n", "succeeded")
	// The command vasactl suggests for another vCenter carries --vcenter.
	r = g.run(t, env, "--vcenter", "east", "providers", "reconnect", "vp-2")
	contains(t, "hint", r.stderr, "watch it: vasactl tasks watch SmsTask-", " --vcenter east\n")
}
