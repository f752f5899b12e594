package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	smstypes "github.com/vmware/govmomi/sms/types"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// lifecycleGateway is a gateway for the provider life-cycle commands: the
// simulator runs 20 times faster, so a recovery's steps take a fraction of
// a second.
func lifecycleGateway(t *testing.T) *gateway {
	t.Helper()
	return startGatewayAt(t, 20)
}

// TestSingleTaskCommands: sync, refresh-certificate and unregister start
// their task, --wait follows it to the end, and -o json gives the task
// with its kind.
func TestSingleTaskCommands(t *testing.T) {
	t.Parallel()
	cases := []struct {
		verb, provider string
		kind           vasagwv1.Task_Kind
	}{
		{"sync", "vp-1", vasagwv1.Task_KIND_SYNC},
		{"refresh-certificate", "vp-1", vasagwv1.Task_KIND_REFRESH_CERTIFICATE},
		{"unregister", "vp-2", vasagwv1.Task_KIND_UNREGISTER},
	}
	for _, c := range cases {
		t.Run(c.verb, func(t *testing.T) {
			t.Parallel()
			g := lifecycleGateway(t)
			env := noConfig(t)
			r := g.run(t, env, "-o", "json", "providers", c.verb, c.provider, "--wait")
			if r.code != 0 {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			var task vasagwv1.Task
			parseJSON(t, r.stdout, &task)
			// (The service leaves an unregister task's target empty.)
			target := task.GetTarget()
			if task.GetState() != vasagwv1.Task_STATE_SUCCEEDED || task.GetKind() != c.kind || target != "vcenters/default/vasaProviders/"+c.provider && (c.verb != "unregister" || target != "") {
				t.Errorf("task %v", &task)
			}
			contains(t, "progress lines", r.stderr, "progress 100%\nsucceeded\n")
			if c.verb == "unregister" {
				if r := g.run(t, env, "providers", "get", c.provider); r.code != 15 {
					t.Errorf("get after unregister: exit %d, want 15\n%s", r.code, r.stderr)
				}
			}
		})
	}
}

// writePassword writes the provider password to a file for --password-file.
func writePassword(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// fingerprintIn returns the fingerprint vasactl printed for a
// CERTIFICATE_NOT_TRUSTED failure.
func fingerprintIn(t *testing.T, out string) string {
	t.Helper()
	const marker = "certificate SHA-256 fingerprint: "
	i := strings.Index(out, marker)
	if i < 0 {
		t.Fatalf("no fingerprint in:\n%s", out)
	}
	fp, _, _ := strings.Cut(out[i+len(marker):], "\n")
	return strings.TrimSpace(fp)
}

// TestRegisterConfirmWithFingerprint: without a terminal, a register of a
// provider with a self-signed certificate fails FAILED_PRECONDITION
// CERTIFICATE_NOT_TRUSTED showing the fingerprint and the flag that
// confirms it; with --certificate-fingerprint it succeeds and names the new
// provider.
func TestRegisterConfirmWithFingerprint(t *testing.T) {
	t.Parallel()
	g := lifecycleGateway(t)
	env := noConfig(t)
	pw := writePassword(t)
	get := g.run(t, env, "-o", "json", "providers", "get", "vp-1")
	var vp1 vasagwv1.VasaProvider
	parseJSON(t, get.stdout, &vp1)
	if r := g.run(t, env, "providers", "unregister", "vp-1", "--wait"); r.code != 0 {
		t.Fatalf("unregister: exit %d\n%s", r.code, r.stderr)
	}
	register := []string{"providers", "register", "--display-name", "array-a", "--url", vp1.GetUrl(), "--username", "vasa-admin", "--password-file", pw, "--wait"}
	r := g.run(t, env, register...)
	if r.code != 19 {
		t.Fatalf("register without a fingerprint: exit %d, want 19\n%s%s", r.code, r.stdout, r.stderr)
	}
	contains(t, "stderr", r.stderr, "CERTIFICATE_NOT_TRUSTED (FAILED_PRECONDITION)", "run the command again with --certificate-fingerprint ")
	fp := fingerprintIn(t, r.stderr)
	if fp != vp1.GetCertificateSha256Fingerprint() {
		t.Errorf("fingerprint %q, want the provider's %q", fp, vp1.GetCertificateSha256Fingerprint())
	}
	r = g.run(t, env, append(register, "--certificate-fingerprint", fp)...)
	if r.code != 0 {
		t.Fatalf("register with the fingerprint: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	contains(t, "stdout", r.stdout, ": register\n", "succeeded: vcenters/default/vasaProviders/")
	name := strings.TrimSpace(r.stdout[strings.LastIndex(r.stdout, "succeeded: ")+len("succeeded: "):])
	if p := g.run(t, env, "providers", "get", name); p.code != 0 || !strings.Contains(p.stdout, "array-a") {
		t.Errorf("the registered provider %s: exit %d\n%s", name, p.code, p.stdout)
	}
}

// TestRecover: a recovery refused by the pre-flight names the missing
// step; once the provider has a new certificate, --wait shows each step
// and the provider that replaced the old one.
func TestRecover(t *testing.T) {
	t.Parallel()
	g := lifecycleGateway(t)
	env := noConfig(t)
	pw := writePassword(t)
	args := []string{"providers", "recover", "vp-3", "--username", "vasa-admin", "--password-file", pw, "--wait"}
	r := g.run(t, env, args...)
	if r.code != 19 {
		t.Fatalf("recover before a new certificate: exit %d, want 19\n%s%s", r.code, r.stdout, r.stderr)
	}
	contains(t, "stderr", r.stderr, "PROVIDER_CERTIFICATE_NOT_RENEWED (FAILED_PRECONDITION)")
	if r := g.run(t, env, "providers", "get", "vp-3"); r.code != 0 {
		t.Fatalf("the refused recovery changed the provider: exit %d", r.code)
	}

	if _, err := g.sim.Sim.RenewProviderCertificate("vp-3"); err != nil {
		t.Fatal(err)
	}
	r = g.run(t, env, args...)
	if r.code != 0 {
		t.Fatalf("recover: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	contains(t, "stdout", r.stdout, ": recover vcenters/default/vasaProviders/vp-3\n",
		"step 1 preflight: running\n", "step 1 preflight: succeeded\n",
		"step 2 unregister: succeeded\n", "step 3 register: succeeded\n",
		"step 4 wait-online: succeeded\nsucceeded: vcenters/default/vasaProviders/")
	name := strings.TrimSpace(r.stdout[strings.LastIndex(r.stdout, "succeeded: ")+len("succeeded: "):])
	if name == "vcenters/default/vasaProviders/vp-3" {
		t.Errorf("the recovery's result is the old provider")
	}
	if p := g.run(t, env, "providers", "get", "vp-3"); p.code != 15 {
		t.Errorf("the old provider: exit %d, want 15", p.code)
	}
	p := g.run(t, env, "-o", "json", "providers", "get", name)
	var got vasagwv1.VasaProvider
	parseJSON(t, p.stdout, &got)
	if got.GetDisplayName() != "array-c" || got.GetCertificateStatus() != vasagwv1.VasaProvider_CERTIFICATE_STATUS_VALID {
		t.Errorf("the recovered provider: %v", &got)
	}
	// `tasks get` shows the steps as a table.
	id := r.stdout[:strings.Index(r.stdout, ":")]
	tg := g.run(t, env, "tasks", "get", id)
	contains(t, "tasks get", tg.stdout, "STEP", "preflight", "unregister", "register", "wait-online")
}

// TestRecoverResumeCommand: a recovery whose register fails after the
// unregister prints the command that resumes it (same --request-id); that
// command, run as printed with the password file, finishes the recovery
// without a second unregister.
func TestRecoverResumeCommand(t *testing.T) {
	t.Parallel()
	g := lifecycleGateway(t)
	env := noConfig(t)
	pw := writePassword(t)
	if _, err := g.sim.Sim.RenewProviderCertificate("vp-3"); err != nil {
		t.Fatal(err)
	}
	g.sim.Sim.InjectTaskFault("RegisterProvider_Task", "", &smstypes.ProviderRegistrationFault{})
	r := g.run(t, env, "providers", "recover", "vp-3", "--username", "vasa-admin", "--password-file", pw, "--wait")
	if r.code != 23 {
		t.Fatalf("recovery with a failing register: exit %d, want 23 (INTERNAL)\n%s%s", r.code, r.stdout, r.stderr)
	}
	contains(t, "stdout", r.stdout, "step 2 unregister: succeeded\n", "step 3 register: failed")
	contains(t, "stderr", r.stderr, "PROVIDER_REGISTRATION_FAULT", "to resume from the failed step:\n    vasactl providers recover vp-3 --username vasa-admin --password-file FILE --request-id ")
	resume := r.stderr[strings.Index(r.stderr, "    vasactl providers recover ")+len("    vasactl "):]
	resume, _, _ = strings.Cut(resume, "\n")

	g.sim.Sim.ClearFaults()
	args := strings.Fields(strings.Replace(resume, "FILE", pw, 1))
	r = g.run(t, env, args...)
	if r.code != 0 {
		t.Fatalf("vasactl %s: exit %d\n%s%s", resume, r.code, r.stdout, r.stderr)
	}
	contains(t, "resumed", r.stdout, "step 4 wait-online: succeeded\n", "succeeded: vcenters/default/vasaProviders/")
	if n := g.sim.Sim.Calls("UnregisterProvider_Task"); n != 1 {
		t.Errorf("%d unregisters, want 1", n)
	}
}
