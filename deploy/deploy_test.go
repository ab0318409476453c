// Package deploy_test checks deploy/ offline, as CI can: the Compose stack in both of its
// profiles as Compose itself loads it (compose-go, the Compose CLI's loader, schema
// validated), the Kubernetes manifests as kustomize builds them (its Go API, in process),
// every object decoded strictly into the Kubernetes types (an unknown field fails), the
// NATS and Temporal charts' kustomization and values, and every environment variable
// handed to a flowbridge container against the names its binary reads.
package deploy_test

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/flowbridge/flowbridge/internal/config"
)

// Binaries whose settings a container may carry.
const (
	binBridge  = "bridge"
	binSetup   = "bridge setup"
	binWorker  = "worker"
	binMigrate = "worker migrate"
)

// knownEnv is, per binary, every environment variable its configuration reads, found by
// loading it with an environment that records what is asked of it.
func knownEnv(t *testing.T) map[string]map[string]bool {
	t.Helper()
	loaders := map[string]func(func(string) string) error{
		binBridge:  func(e func(string) string) error { _, err := config.LoadBridge(nil, e); return err },
		binSetup:   func(e func(string) string) error { _, err := config.LoadSetup(nil, e); return err },
		binWorker:  func(e func(string) string) error { _, err := config.LoadWorker(nil, e); return err },
		binMigrate: func(e func(string) string) error { _, err := config.LoadMigrate(nil, e); return err },
	}
	out := map[string]map[string]bool{}
	for bin, load := range loaders {
		seen := map[string]bool{}
		_ = load(func(k string) string { seen[k] = true; return "" }) // only the names matter
		require.NotEmpty(t, seen, bin)
		out[bin] = seen
	}
	return out
}

// requireKnown fails for each name bin does not read. The Go runtime's GOMEMLIMIT and
// the OpenTelemetry SDK's own OTEL_* are read outside config.
func requireKnown(t *testing.T, known map[string]map[string]bool, bin, where string, names []string) {
	t.Helper()
	for _, name := range names {
		if name == "GOMEMLIMIT" || strings.HasPrefix(name, "OTEL_") {
			continue
		}
		require.True(t, known[bin][name], "%s: %s does not read %s (a typo, or a setting it no longer has)", where, bin, name)
	}
}

// loadCompose loads compose.yaml with profiles as `docker compose config` does, with no
// variables from the environment (the file's defaults).
func loadCompose(t *testing.T, file string, profiles ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithName("flowbridge"), cli.WithProfiles(profiles), cli.WithEnv(nil))
	require.NoError(t, err)
	p, err := opts.LoadProject(context.Background())
	require.NoError(t, err, "compose config %s --profile %v", file, profiles)
	return p
}

// binaryOf says which flowbridge binary a Compose service runs, or "" for another image.
func binaryOf(s types.ServiceConfig) string {
	switch {
	case strings.HasPrefix(s.Image, "flowbridge-bridge:") && slices.Equal(s.Command, types.ShellCommand{"setup"}):
		return binSetup
	case strings.HasPrefix(s.Image, "flowbridge-bridge:"):
		return binBridge
	case strings.HasPrefix(s.Image, "flowbridge-worker:") && slices.Equal(s.Command, types.ShellCommand{"migrate"}):
		return binMigrate
	case strings.HasPrefix(s.Image, "flowbridge-worker:"):
		return binWorker
	}
	return ""
}

func env(s types.ServiceConfig, name string) string {
	if v := s.Environment[name]; v != nil {
		return *v
	}
	return ""
}

// streamSettings are the settings `bridge setup` applies and a bridge checks against.
func streamSettings(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for name := range s.Environment {
		if strings.HasPrefix(name, "EVENTS_") || strings.HasPrefix(name, "DLQ_") || name == "BRIDGE_ACK_WAIT" {
			out[name] = env(s, name)
		}
	}
	return out
}

// Compose's loader validates against the Compose schema: a key it does not know fails.
func TestComposeLoaderIsStrict(t *testing.T) {
	file := filepath.Join(t.TempDir(), "compose.yaml")
	require.NoError(t, os.WriteFile(file, []byte("services:\n  a:\n    image: x\n    profile: [cluster]\n"), 0o600))
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithName("strict"), cli.WithEnv(nil))
	require.NoError(t, err)
	_, err = opts.LoadProject(context.Background())
	require.ErrorContains(t, err, "profile")
}

// Without a profile the stack is the single-node one; with `cluster` it also has three
// clustered NATS nodes, R3 streams made by its own setup one-shot, two bridges and two
// workers. Every flowbridge container's variables are settings its binary reads, setup
// and the bridges it serves agree on the stream settings, each bridge waits for its
// setup and migrations, and Prometheus scrapes every bridge and worker.
func TestComposeProfiles(t *testing.T) {
	known := knownEnv(t)
	single := loadCompose(t, "compose.yaml")
	cluster := loadCompose(t, "compose.yaml", "cluster")

	for name, s := range cluster.Services {
		_, inSingle := single.Services[name]
		require.Equal(t, !slices.Contains(s.Profiles, "cluster"), inSingle, "service %s: in the default stack exactly when it has no profile", name)
	}

	tests := []struct {
		name     string
		project  *types.Project
		profile  string // the services of this profile only ("" for none)
		replicas string
		nodes    int // NATS servers
		bridges  int // and as many workers
	}{
		{name: "single", project: single, profile: "", replicas: "1", nodes: 1, bridges: 1},
		{name: "cluster", project: cluster, profile: "cluster", replicas: "3", nodes: 3, bridges: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			byBin := map[string][]types.ServiceConfig{}
			var natsNodes []types.ServiceConfig
			for name, s := range tt.project.Services {
				if tt.profile == "" && len(s.Profiles) > 0 || tt.profile != "" && !slices.Contains(s.Profiles, tt.profile) {
					continue
				}
				if strings.HasPrefix(s.Image, "nats:") {
					natsNodes = append(natsNodes, s)
				}
				if bin := binaryOf(s); bin != "" {
					requireKnown(t, known, bin, "compose service "+name, slices.Collect(maps.Keys(s.Environment)))
					byBin[bin] = append(byBin[bin], s)
				}
			}
			require.Len(t, natsNodes, tt.nodes, "NATS servers")
			require.Len(t, byBin[binSetup], 1, "setup one-shots")
			require.Len(t, byBin[binMigrate], 1, "migrate one-shots")
			require.Len(t, byBin[binBridge], tt.bridges, "bridges")
			require.Len(t, byBin[binWorker], tt.bridges, "workers")

			setup, migrate := byBin[binSetup][0], byBin[binMigrate][0]
			require.Equal(t, tt.replicas, env(setup, "EVENTS_REPLICAS"), "%s: EVENTS_REPLICAS", setup.Name)
			wantURLs := natsURLs(t, natsNodes)
			for _, s := range append(slices.Clone(byBin[binBridge]), append(byBin[binWorker], setup)...) {
				require.ElementsMatch(t, wantURLs, strings.Split(env(s, "NATS_URL"), ","), "%s: NATS_URL names every NATS server", s.Name)
				require.Equal(t, env(setup, "TEMPORAL_NAMESPACE"), env(s, "TEMPORAL_NAMESPACE"), "%s: TEMPORAL_NAMESPACE", s.Name)
			}
			for _, b := range byBin[binBridge] {
				require.Equal(t, streamSettings(setup), streamSettings(b), "%s: stream settings differ from %s's", b.Name, setup.Name)
				require.Equal(t, "false", env(b, "BRIDGE_PROVISION"), "%s: the setup one-shot makes the streams", b.Name)
				requireCompleted(t, b, setup.Name, migrate.Name)
			}
			for _, s := range append(slices.Clone(byBin[binBridge]), byBin[binWorker]...) {
				require.Equal(t, env(migrate, "DATABASE_URL"), env(s, "DATABASE_URL"), "%s: DATABASE_URL is the one %s migrates", s.Name, migrate.Name)
				requireCompleted(t, s, migrate.Name)
			}
			targets := prometheusTargets(t)
			for _, b := range byBin[binBridge] {
				require.Contains(t, targets, b.Name+":9090", "Prometheus scrapes %s's admin address", b.Name)
			}
			for _, w := range byBin[binWorker] {
				require.Contains(t, targets, w.Name+":8081", "Prometheus scrapes %s", w.Name)
			}
			// Backup's write and prune run on any worker: all see one volume there.
			backups := map[string]bool{}
			for _, w := range byBin[binWorker] {
				dir, src := env(w, "BACKUP_DIR"), ""
				for _, v := range w.Volumes {
					if v.Target == dir {
						src = v.Source
					}
				}
				require.NotEmpty(t, src, "%s: a volume at BACKUP_DIR %q", w.Name, dir)
				backups[src] = true
			}
			require.Len(t, backups, 1, "the workers share one BACKUP_DIR volume: got %v", backups)
		})
	}

	// One host port per service, in whichever profile.
	seen := map[string]string{}
	for name, s := range cluster.Services {
		for _, p := range s.Ports {
			key := p.HostIP + ":" + p.Published
			require.NotContains(t, seen, key, "host port %s: %s and %s", key, seen[key], name)
			seen[key] = name
		}
	}
}

// natsURLs checks that nodes form one cluster (each names every node's route, a unique
// server name and a store of its own) and returns their client URLs.
func natsURLs(t *testing.T, nodes []types.ServiceConfig) []string {
	t.Helper()
	var urls, routes []string
	names, stores := map[string]bool{}, map[string]bool{}
	for _, n := range nodes {
		urls = append(urls, "nats://"+n.Name+":4222")
		routes = append(routes, "nats://"+n.Name+":6222")
	}
	for _, n := range nodes {
		args := flags(n.Command)
		require.Contains(t, args, "--jetstream", n.Name)
		require.Equal(t, "8222", args["--http_port"], "%s: the health check's port", n.Name)
		require.False(t, names[args["--server_name"]], "%s: server name %q taken", n.Name, args["--server_name"])
		names[args["--server_name"]] = true
		var store string
		for _, v := range n.Volumes {
			if v.Target == args["--store_dir"] {
				store = v.Source
			}
		}
		require.NotEmpty(t, store, "%s: no volume at its store %s", n.Name, args["--store_dir"])
		require.False(t, stores[store], "%s: store volume %s shared", n.Name, store)
		stores[store] = true
		if len(nodes) == 1 {
			continue
		}
		require.Equal(t, "flowbridge", args["--cluster_name"], n.Name)
		require.Equal(t, "nats://0.0.0.0:6222", args["--cluster"], n.Name)
		require.ElementsMatch(t, routes, strings.Split(args["--routes"], ","), "%s: routes to every node", n.Name)
	}
	return urls
}

// flags reads a nats-server command line: --name value, or --name alone.
func flags(cmd types.ShellCommand) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(cmd); i++ {
		if i+1 < len(cmd) && !strings.HasPrefix(cmd[i+1], "--") {
			out[cmd[i]] = cmd[i+1]
			i++
			continue
		}
		out[cmd[i]] = ""
	}
	return out
}

// requireCompleted fails unless s starts after each of the one-shots exited 0.
func requireCompleted(t *testing.T, s types.ServiceConfig, oneShots ...string) {
	t.Helper()
	for _, o := range oneShots {
		d, ok := s.DependsOn[o]
		require.True(t, ok, "%s does not depend on %s", s.Name, o)
		require.Equal(t, types.ServiceConditionCompletedSuccessfully, d.Condition, "%s waits for %s", s.Name, o)
	}
}

// prometheusTargets are the targets of the Compose stack's Prometheus.
func prometheusTargets(t *testing.T) []string {
	t.Helper()
	var cfg struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	b, err := os.ReadFile(filepath.Join("prometheus", "prometheus.yml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &cfg))
	var out []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			out = append(out, st.Targets...)
		}
	}
	return out
}

// chartValues are the parts of the charts' values files the manifests depend on.
type chartValues struct {
	NATS struct {
		Config struct {
			Cluster struct {
				Enabled  bool `json:"enabled"`
				Replicas int  `json:"replicas"`
			} `json:"cluster"`
			JetStream struct {
				Enabled bool `json:"enabled"`
			} `json:"jetstream"`
		} `json:"config"`
	}
	Temporal struct {
		Server struct {
			Config struct {
				Persistence struct {
					Datastores map[string]struct {
						SQL struct {
							CreateDatabase bool   `json:"createDatabase"`
							ManageSchema   bool   `json:"manageSchema"`
							PluginName     string `json:"pluginName"`
						} `json:"sql"`
					} `json:"datastores"`
				} `json:"persistence"`
				Namespaces struct {
					Create    bool `json:"create"`
					Namespace []struct {
						Name string `json:"name"`
					} `json:"namespace"`
				} `json:"namespaces"`
			} `json:"config"`
		} `json:"server"`
	}
}

// readCharts reads deploy/k8s/charts: its kustomization (strictly), its namespaces, and
// the values files it names, by chart.
func readCharts(t *testing.T) (map[string]kusttypes.HelmChart, chartValues) {
	t.Helper()
	dir := filepath.Join("k8s", "charts")
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	require.NoError(t, err)
	var k kusttypes.Kustomization
	require.NoError(t, yaml.UnmarshalStrict(b, &k), "charts/kustomization.yaml")
	charts := map[string]kusttypes.HelmChart{}
	var v chartValues
	for _, c := range k.HelmCharts {
		require.NotEmpty(t, c.Repo, c.Name)
		require.NotEmpty(t, c.Version, "%s: pin the chart's version", c.Name)
		require.NotEmpty(t, c.Namespace, c.Name)
		vb, err := os.ReadFile(filepath.Join(dir, c.ValuesFile))
		require.NoError(t, err, c.Name)
		switch c.Name {
		case "nats":
			require.NoError(t, yaml.Unmarshal(vb, &v.NATS), c.ValuesFile)
		case "temporal":
			require.NoError(t, yaml.Unmarshal(vb, &v.Temporal), c.ValuesFile)
		default:
			t.Fatalf("chart %s: not one flowbridge's manifests know", c.Name)
		}
		charts[c.Name] = c
	}
	require.Len(t, charts, 2, "the NATS and Temporal charts")

	// The charts' namespaces exist.
	nb, err := os.ReadFile(filepath.Join(dir, "namespaces.yaml"))
	require.NoError(t, err)
	var namespaces []string
	for doc := range strings.SplitSeq(string(nb), "\n---\n") {
		var ns corev1.Namespace
		require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &ns), "charts/namespaces.yaml")
		namespaces = append(namespaces, ns.Name)
	}
	require.Equal(t, []string{"namespaces.yaml"}, k.Resources, "charts/kustomization.yaml resources")
	for _, c := range charts {
		require.Contains(t, namespaces, c.Namespace, "namespace of chart %s", c.Name)
	}
	return charts, v
}

// build runs kustomize on dir and decodes every object strictly into its Kubernetes type.
func build(t *testing.T, dir string) []any {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	var out []any
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		require.NoError(t, err)
		obj := typed(t, r.GetKind())
		require.NoError(t, yaml.UnmarshalStrict(b, obj), "%s %s: not a valid %s", r.GetKind(), r.GetName(), r.GetKind())
		out = append(out, obj)
	}
	return out
}

func typed(t *testing.T, kind string) any {
	t.Helper()
	switch kind {
	case "Namespace":
		return &corev1.Namespace{}
	case "ConfigMap":
		return &corev1.ConfigMap{}
	case "Secret":
		return &corev1.Secret{}
	case "Service":
		return &corev1.Service{}
	case "Deployment":
		return &appsv1.Deployment{}
	case "Job":
		return &batchv1.Job{}
	case "PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	}
	t.Fatalf("kind %s: add its type to this test", kind)
	return nil
}

// deploy/k8s builds with kustomize and every object is a valid Kubernetes object; the
// Jobs run `worker migrate` and `bridge setup`; every variable a container gets (the
// ConfigMap, the Secret's keys, env) is a setting of its binary; and the ConfigMap points
// at what the charts make: every server of the NATS StatefulSet (as many as the streams'
// replicas), Temporal's frontend, a namespace the chart creates.
func TestKubernetesManifests(t *testing.T) {
	known := knownEnv(t)
	charts, values := readCharts(t)

	var cm *corev1.ConfigMap
	jobs := map[string]string{}
	var pods []struct {
		name string
		spec corev1.PodSpec
	}
	for _, obj := range build(t, "k8s") {
		switch o := obj.(type) {
		case *corev1.ConfigMap:
			cm = o
		case *appsv1.Deployment:
			pods = append(pods, struct {
				name string
				spec corev1.PodSpec
			}{"Deployment " + o.Name, o.Spec.Template.Spec})
		case *batchv1.Job:
			pods = append(pods, struct {
				name string
				spec corev1.PodSpec
			}{"Job " + o.Name, o.Spec.Template.Spec})
			jobs[o.Name] = strings.Join(o.Spec.Template.Spec.Containers[0].Command, " ")
		}
	}
	require.Equal(t, "/usr/local/bin/worker migrate", jobs["flowbridge-migrate"])
	require.Equal(t, "/usr/local/bin/bridge setup", jobs["flowbridge-setup"])
	require.NotNil(t, cm)

	secret := &corev1.Secret{}
	b, err := os.ReadFile(filepath.Join("k8s", "secret.example.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(b, secret), "secret.example.yaml")

	all := map[string]bool{}
	for _, names := range known {
		maps.Copy(all, names)
	}
	for name := range cm.Data {
		require.True(t, all[name], "ConfigMap %s: no binary reads %s", cm.Name, name)
	}
	for name := range secret.StringData {
		require.True(t, all[name], "secret.example.yaml: no binary reads %s", name)
	}
	for _, p := range pods {
		for _, c := range append(slices.Clone(p.spec.InitContainers), p.spec.Containers...) {
			bin := strings.TrimPrefix(strings.Join(c.Command, " "), "/usr/local/bin/")
			if bin == "" { // the image's entrypoint
				bin = binBridge
				if strings.Contains(c.Image, "worker") {
					bin = binWorker
				}
			}
			var names []string
			for _, e := range c.Env {
				names = append(names, e.Name)
			}
			requireKnown(t, known, bin, p.name+" container "+c.Name, names)
		}
	}

	// NATS: every server of the chart's StatefulSet, one replica of each stream per server.
	nats := charts["nats"]
	require.True(t, values.NATS.Config.Cluster.Enabled && values.NATS.Config.JetStream.Enabled, "nats-values.yaml: cluster and JetStream")
	replicas := values.NATS.Config.Cluster.Replicas
	require.Equal(t, strconv.Itoa(replicas), cm.Data["EVENTS_REPLICAS"], "EVENTS_REPLICAS: one per NATS server")
	var want []string
	for i := range replicas {
		want = append(want, fmt.Sprintf("nats://%[1]s-%[2]d.%[1]s-headless.%[3]s.svc.cluster.local:4222", nats.ReleaseName, i, nats.Namespace))
	}
	require.ElementsMatch(t, want, strings.Split(cm.Data["NATS_URL"], ","), "NATS_URL names every NATS server")

	// Temporal: the frontend of the release, a namespace the chart creates, its schema made
	// by the chart's schema Job (admin tools) on PostgreSQL.
	temporal := charts["temporal"]
	u, err := url.Parse("grpc://" + cm.Data["TEMPORAL_ADDRESS"])
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("%s-frontend.%s.svc.cluster.local", temporal.ReleaseName, temporal.Namespace), u.Hostname(), "TEMPORAL_ADDRESS")
	tv := values.Temporal.Server.Config
	require.True(t, tv.Namespaces.Create, "temporal-values.yaml: namespaces.create")
	var created []string
	for _, n := range tv.Namespaces.Namespace {
		created = append(created, n.Name)
	}
	require.Contains(t, created, cm.Data["TEMPORAL_NAMESPACE"], "temporal-values.yaml creates TEMPORAL_NAMESPACE")
	for _, store := range []string{"default", "visibility"} {
		sql := tv.Persistence.Datastores[store].SQL
		require.Equal(t, "postgres12", sql.PluginName, "datastore %s", store)
		require.True(t, sql.CreateDatabase && sql.ManageSchema, "datastore %s: the chart's schema Job sets it up", store)
	}
}
