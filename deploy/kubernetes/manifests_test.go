// Package kubernetes_test checks the Kubernetes manifests of this directory:
// every document decodes strictly (unknown or misspelt fields fail) into
// its k8s.io/api type, and the Deployment keeps the properties the
// platform relies on. It is its own module, so that k8s.io/api never
// enters the gateway's go.mod.
package kubernetes_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// kustomization is the part of kustomize's Kustomization this directory
// uses; decoded strictly too.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

// objects maps kind to the decoded object of every manifest.
type objects struct {
	deployment    *appsv1.Deployment
	service       *corev1.Service
	configMap     *corev1.ConfigMap
	secret        *corev1.Secret            // the first Secret: the vCenter password
	secrets       map[string]*corev1.Secret // every Secret by name
	pdb           *policyv1.PodDisruptionBudget
	hpa           *autoscalingv2.HorizontalPodAutoscaler
	kustomization *kustomization
	files         []string
}

// decode decodes one YAML document strictly into the type its apiVersion
// and kind name.
func (o *objects) decode(doc []byte) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return err
	}
	var target any
	switch head.APIVersion + " " + head.Kind {
	case "apps/v1 Deployment":
		o.deployment = &appsv1.Deployment{}
		target = o.deployment
	case "v1 Service":
		o.service = &corev1.Service{}
		target = o.service
	case "v1 ConfigMap":
		o.configMap = &corev1.ConfigMap{}
		target = o.configMap
	case "v1 Secret":
		s := &corev1.Secret{}
		if o.secret == nil {
			o.secret = s
		}
		defer func() {
			if o.secrets == nil {
				o.secrets = map[string]*corev1.Secret{}
			}
			o.secrets[s.Name] = s
		}()
		target = s
	case "policy/v1 PodDisruptionBudget":
		o.pdb = &policyv1.PodDisruptionBudget{}
		target = o.pdb
	case "autoscaling/v2 HorizontalPodAutoscaler":
		o.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
		target = o.hpa
	case "kustomize.config.k8s.io/v1beta1 Kustomization":
		o.kustomization = &kustomization{}
		target = o.kustomization
	default:
		return fmt.Errorf("unexpected %s %s", head.APIVersion, head.Kind)
	}
	return yaml.UnmarshalStrict(doc, target)
}

func load(t *testing.T) *objects {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o := &objects{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(b, []byte("\n---")) {
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			if err := o.decode(doc); err != nil {
				t.Errorf("%s document %d: %v", f, i+1, err)
			}
		}
		o.files = append(o.files, f)
	}
	return o
}

func TestManifestsDecodeStrictly(t *testing.T) {
	o := load(t)
	for name, missing := range map[string]bool{
		"Deployment": o.deployment == nil, "Service": o.service == nil, "ConfigMap": o.configMap == nil,
		"Secret": o.secret == nil, "PodDisruptionBudget": o.pdb == nil, "HorizontalPodAutoscaler": o.hpa == nil,
		"Kustomization": o.kustomization == nil,
	} {
		if missing {
			t.Errorf("no %s manifest", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, f := range o.files {
		if f != "kustomization.yaml" && !slices.Contains(o.kustomization.Resources, f) {
			t.Errorf("%s is not listed in kustomization.yaml", f)
		}
	}
}

func TestStrictDecodingCatchesTypos(t *testing.T) {
	// The guard itself: a misspelt field must fail.
	doc := []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  prots: []\n")
	if err := (&objects{}).decode(doc); err == nil {
		t.Fatal("a misspelt field decoded without error")
	}
}

func TestDeploymentIsHardened(t *testing.T) {
	o := load(t)
	d := o.deployment
	if d == nil {
		t.Fatal("no Deployment")
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("replicas = %v, want >= 2", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and seccomp RuntimeDefault", psc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("container has no securityContext")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("root filesystem is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("privilege escalation allowed")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Error("capabilities not dropped")
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("container may run as root")
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no %s HTTP probe", name)
		}
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe path %q, want /healthz", c.LivenessProbe.HTTPGet.Path)
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe path %q, want /readyz", c.ReadinessProbe.HTTPGet.Path)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
	}

	// Probes and Service ports name container ports that exist.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for _, want := range []struct {
		name string
		port int32
	}{{"grpc", 9090}, {"http", 8080}, {"admin", 9091}} {
		if ports[want.name] != want.port {
			t.Errorf("container port %s = %d, want %d", want.name, ports[want.name], want.port)
		}
	}
	for _, sp := range o.service.Spec.Ports {
		if _, ok := ports[sp.TargetPort.String()]; !ok {
			t.Errorf("Service port %s targets %q, not a container port", sp.Name, sp.TargetPort.String())
		}
		if sp.AppProtocol == nil {
			t.Errorf("Service port %s has no appProtocol", sp.Name)
		}
	}

	// Labels agree: the Service, PDB and HPA reach the Deployment's pods.
	podLabels := d.Spec.Template.Labels
	for what, sel := range map[string]map[string]string{
		"Deployment selector": d.Spec.Selector.MatchLabels,
		"Service selector":    o.service.Spec.Selector,
		"PDB selector":        o.pdb.Spec.Selector.MatchLabels,
	} {
		for k, v := range sel {
			if podLabels[k] != v {
				t.Errorf("%s %s=%s does not match the pod labels %v", what, k, v, podLabels)
			}
		}
	}
	if o.hpa.Spec.ScaleTargetRef.Kind != "Deployment" || o.hpa.Spec.ScaleTargetRef.Name != d.Name {
		t.Errorf("HPA targets %+v", o.hpa.Spec.ScaleTargetRef)
	}
	if o.hpa.Spec.MinReplicas == nil || *o.hpa.Spec.MinReplicas < 2 {
		t.Error("HPA may scale below two replicas")
	}

	// The settings come from the ConfigMap; the password from a file
	// mounted from the Secret, never from an environment variable.
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != o.configMap.Name {
		t.Errorf("envFrom %+v, want the ConfigMap %s", c.EnvFrom, o.configMap.Name)
	}
	for k := range o.configMap.Data {
		if strings.Contains(k, "PASSWORD") && !strings.HasSuffix(k, "_PASSWORD_FILE") {
			t.Errorf("ConfigMap key %s carries a password", k)
		}
	}
	pwFile := o.configMap.Data["VASAGW_VCENTER_PASSWORD_FILE"]
	var mounted bool
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(pwFile, m.MountPath+"/") {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName == o.secret.Name {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("VASAGW_VCENTER_PASSWORD_FILE %q is not in a volume mounted from the Secret %s", pwFile, o.secret.Name)
	}
	for _, e := range c.Env {
		if strings.Contains(e.Name, "PASSWORD") {
			t.Errorf("environment variable %s carries a password", e.Name)
		}
	}
}

// TestReplicasNeedRedis: more than one replica (the Deployment's count or
// the HPA's range) only with Redis configured, since without it request
// ids, task polls and the gateway's own tasks are per replica (README,
// "Scaling out"); and the Redis password comes from a file mounted from a
// Secret.
func TestReplicasNeedRedis(t *testing.T) {
	o := load(t)
	d := o.deployment
	many := (d.Spec.Replicas != nil && *d.Spec.Replicas > 1) || (o.hpa != nil && o.hpa.Spec.MaxReplicas > 1)
	url := o.configMap.Data["VASAGW_REDIS_URL"]
	if !many {
		return
	}
	if !strings.HasPrefix(url, "redis://") && !strings.HasPrefix(url, "rediss://") {
		t.Fatalf("more than one replica without VASAGW_REDIS_URL (got %q): replicas would not share request ids, task polls or recoveries", url)
	}
	pwFile := o.configMap.Data["VASAGW_REDIS_PASSWORD_FILE"]
	if pwFile == "" {
		return
	}
	pod := d.Spec.Template.Spec
	var mounted bool
	for _, m := range pod.Containers[0].VolumeMounts {
		if !strings.HasPrefix(pwFile, m.MountPath+"/") {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.Secret != nil && o.secrets[v.Secret.SecretName] != nil {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("VASAGW_REDIS_PASSWORD_FILE %q is not in a volume mounted from a Secret", pwFile)
	}
}
