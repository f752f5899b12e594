package server

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vasagw/vasagw/internal/config"
)

// readmeExpectations is what each example command of README.md prints,
// in README order: the command starts with prefix, and its output
// contains want. A README example without an expectation here, or an
// expectation without its example, fails the test: the README and this
// list change together.
var readmeExpectations = []struct{ prefix, want string }{
	{"curl -s localhost:8080/v1/vcenters/default/vasaProviders\n", `"name":"vcenters/default/vasaProviders/vp-1"`},
	{"curl -s localhost:8080/v1/vcenters/default/vasaProviders/vp-2\n", `"status":"STATUS_DISCONNECTED"`},
	{"curl -s -X POST localhost:8080/v1/vcenters/default/vasaProviders/vp-2:reconnect", `"name":"vcenters/default/tasks/SmsTask-1"`},
	{"curl -sN localhost:8080/v1/vcenters/default/tasks/SmsTask-1:watch", `"state":"STATE_SUCCEEDED"`},
	{"curl -s -X POST localhost:8080/v1/vcenters/default/vasaProviders/vp-5:reconnect", `"name":"vcenters/default/tasks/SmsTask-2"`},
	// More than one event: the watch starts while the task still runs.
	{"curl -sN -H 'Accept: text/event-stream'", "event: task\nid: 2\ndata: {\"name\":\"vcenters/default/tasks/SmsTask-2\""},
	{"curl -s -X POST localhost:8080/v1/vcenters/default/vasaProviders/vp-3:reconnect", `"reason":"INVALID_CERTIFICATE"`},
	{"grpcurl -plaintext localhost:9090 list", "vasagw.v1.TaskService"},
	{"grpcurl -plaintext -d '{\"parent\":\"vcenters/default\",\"page_size\":2}'", `"nextPageToken"`},
	{"grpcurl -plaintext -d '{\"name\":\"vcenters/default/vasaProviders/vp-1\"}' localhost:9090 vasagw.v1.VasaProviderService/GetVasaProvider", `"STATUS_CONNECTED"`},
	{"grpcurl -plaintext -d '{\"name\":\"vcenters/default/vasaProviders/vp-1\"}' localhost:9090 vasagw.v1.VasaProviderService/ReconnectProvider", `"vcenters/default/tasks/SmsTask-3"`},
	// The watch of the task just started, not an older one.
	{"grpcurl -plaintext -d '{\"name\":\"vcenters/default/tasks/SmsTask-3\"}' localhost:9090 vasagw.v1.TaskService/WatchTask", `"vcenters/default/vasaProviders/vp-1"`},
	{"grpcurl -plaintext localhost:9090 grpc.health.v1.Health/Check", `"SERVING"`},
	{"curl -s -X POST localhost:8080/sdk/vim25/8.0.1.0/sms/VasaProvider/vp-2/VasaProviderReconnect_Task", `{"_typeName":"ManagedObjectReference","type":"SmsTask","value":"SmsTask-4"}`},
	{"curl -s -X POST localhost:8080/sdk/vim25/8.0.1.0/sms/SmsTask/SmsTask-1/QuerySmsTaskInfo", `"state":"success"`},
	{"curl -s -X POST localhost:8080/sdk/vim25/8.0.1.0/sms/VasaProvider/vp-2/QueryProviderInfo", `"_typeName":"VasaProviderInfo"`},
	{"curl -s -w ' HTTP %{http_code}\\n' -X POST localhost:8080/sdk/vim25/8.0.1.0/sms/VasaProvider/vp-3/VasaProviderReconnect_Task", `"certificate":"-----BEGIN CERTIFICATE-----`},
	{"curl -s -X POST localhost:8080/sdk/vim25/8.0.1.0/sms/VasaProvider/vp-404/QueryProviderInfo", `{"_typeName":"ManagedObjectNotFound"`},
	{"curl -s -D - -X POST localhost:8080/sdk/vim25/8.0.1.0/SessionManager/SessionManager/Login", `"_typeName":"UserSession"`},
	{"id=$(curl", `{"_typeName":"NoPermission"`},
	{"curl -s localhost:8080/v1/vcenters/default/vasaProviders/vp-3\n", `"certificateStatus":"CERTIFICATE_STATUS_EXPIRED"`},
	{"curl -s -X POST localhost:8080/v1/vcenters/default/vasaProviders/vp-3:recover -d '{\"username\"", `"reason":"PROVIDER_CERTIFICATE_NOT_RENEWED"`},
	{"curl -s -X POST localhost:8080/smssim/providers/vp-3/renew-certificate", `"sha256Fingerprint":"`},
	// The watch of the recovery to its end, the new provider its result.
	{"id=$(curl -s -X POST localhost:8080/v1/vcenters/default/vasaProviders/vp-3:recover", `"kind":"KIND_RECOVER","result":"vcenters/default/vasaProviders/vp-7"`},
	{"curl -s localhost:8080/v1/vcenters/default/vasaProviders/vp-7\n", `"certificateStatus":"CERTIFICATE_STATUS_VALID"`},
	{"curl -s localhost:8080/v1/vcenters\n", `"smsVersion":"8.0.2.0"`},
	{"curl -s localhost:8080/v1/vcenters/default\n", `"state":"STATE_READY"`},
	{"curl -s localhost:8080/v1/vcenters/east/vasaProviders\n", `"reason":"VCENTER_NOT_FOUND"`},
	{"grpcurl -plaintext -d '{\"service\":\"vcenters/default\"}' localhost:9090 grpc.health.v1.Health/Check", `"SERVING"`},
	{"curl -s -G localhost:8080/v1/vcenters/default/vasaProviders --data-urlencode 'filter=status = STATUS_DISCONNECTED OR", `"displayName":"array-d"`},
	{"curl -s -G localhost:8080/v1/vcenters/default/vasaProviders --data-urlencode 'filter=display_name = \"array-*\"", `"displayName":"array-e"`},
	{"curl -sN --max-time 2 -G -H 'Accept: text/event-stream' localhost:8080/v1/vcenters/default/vasaProviders:watch", "\ndata: {\"type\":\"TYPE_SNAPSHOT_COMPLETE\"}"},
}

// readmeSimulateExpectations are those of the README's `sh
// simulate-vcenters` blocks, run against `--simulate-vcenters east,west`.
var readmeSimulateExpectations = []struct{ prefix, want string }{
	{"curl -s localhost:8080/v1/vcenters\n", `"name":"vcenters/west"`},
	{"curl -s -X POST localhost:8080/v1/vcenters/west/vasaProviders/vp-2:reconnect", `"name":"vcenters/west/tasks/SmsTask-1"`},
	{"curl -s localhost:8080/v1/vcenters/east/tasks/SmsTask-1\n", `"reason":"TASK_NOT_FOUND"`},
	{"grpcurl -plaintext -d '{\"service\":\"vcenters/west\"}' localhost:9090 grpc.health.v1.Health/Check", `"SERVING"`},
}

// readmeExamples returns the curl and grpcurl lines of README.md's code
// blocks whose info string is info ("sh"), in order.
func readmeExamples(t *testing.T, info string) []string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	inSh, inBlock := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```"):
			inSh = !inBlock && strings.TrimSpace(strings.TrimPrefix(line, "```")) == info
			inBlock = !inBlock
		case inSh && (strings.HasPrefix(line, "curl ") || strings.HasPrefix(line, "grpcurl ") || strings.HasPrefix(line, "id=$(curl ")):
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReadmeExamples runs the README's curl and grpcurl examples verbatim
// (only the ports are the test's own) against the gateway on its embedded
// simulator, as `go run ./cmd/server` starts it.
func TestReadmeExamples(t *testing.T) {
	g := runReadmeExamples(t, "sh", readmeExpectations, nil)
	if !strings.Contains(g.logs.String(), "embedded SMS simulator") {
		t.Errorf("the embedded simulator is not announced in the log:\n%s", g.logs.String())
	}
}

// TestReadmeSimulateExamples runs the README's examples of several
// vCenters against `--simulate-vcenters east,west`.
func TestReadmeSimulateExamples(t *testing.T) {
	runReadmeExamples(t, "sh simulate-vcenters", readmeSimulateExpectations, []string{"--simulate-vcenters=east,west"})
}

// runReadmeExamples runs the examples of the README's blocks with info
// string info against a gateway started with flags, each checked against
// its expectation.
func runReadmeExamples(t *testing.T, info string, expectations []struct{ prefix, want string }, flags []string) *gateway {
	t.Helper()
	examples := readmeExamples(t, info)
	if len(examples) != len(expectations) {
		t.Fatalf("README has %d examples, the test expects %d:\n%s", len(examples), len(expectations), strings.Join(examples, "\n"))
	}
	for _, tool := range []string{"curl", "grpcurl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("VASAGW_README_TOOLS") == "required" {
				t.Fatalf("%s is not installed (.ci/run installs it)", tool)
			}
			t.Skipf("%s is not installed; .ci/run installs it and sets VASAGW_README_TOOLS=required", tool)
		}
	}
	cfg, err := config.Load(append([]string{"--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0"}, flags...), mapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{}
	startRun(t, cfg, g)
	grpcAddr := g.conn.Target()
	httpAddr := strings.TrimPrefix(g.base, "http://")

	for i, ex := range examples {
		exp := expectations[i]
		if !strings.HasPrefix(ex+"\n", exp.prefix) {
			t.Fatalf("README example %d is\n  %s\nthe test expects one starting with\n  %s", i, ex, exp.prefix)
		}
		cmdline := strings.NewReplacer("localhost:8080", httpAddr, "localhost:9090", grpcAddr).Replace(ex)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, "sh", "-c", cmdline).CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 28 && strings.Contains(ex, "--max-time") {
			err = nil // curl's --max-time is how a watch example ends
		}
		if err != nil {
			t.Fatalf("README example %d failed: %s\n%v\n%s", i, ex, err, out)
		}
		if !strings.Contains(string(out), exp.want) {
			t.Errorf("README example %d\n  %s\nprinted\n%s\nwithout %q", i, ex, out, exp.want)
		}
	}
	return g
}
