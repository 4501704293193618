// lua-health runs Argo CD resource health checks (resource_customizations/<group>/<Kind>/health.lua)
// against their health_test.yaml cases with Argo CD's own Lua code: util/lua's VM.ExecuteHealthLua
// from github.com/argoproj/argo-cd/v3 (gopher-lua inside, Argo CD's default libraries without
// useOpenLibs, the object as the global `obj`, the returned table read as {status, message}).
//
// Usage: lua-health DIR...      each DIR holds health.lua and health_test.yaml; exits 1 on a mismatch
//
//	lua-health eval SCRIPT    evaluates SCRIPT on the object given as JSON or YAML on stdin
//	                          and prints {"status":..,"message":..}
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	argolua "github.com/argoproj/argo-cd/v3/util/lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

type HealthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

type testCase struct {
	InputPath    string       `json:"inputPath"`
	HealthStatus HealthStatus `json:"healthStatus"`
}

type testFile struct {
	Tests []testCase `json:"tests"`
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "eval" {
		if err := evalStdin(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		return
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: lua-health DIR... | lua-health eval SCRIPT < object")
		os.Exit(2)
	}
	failed, total := 0, 0
	for _, dir := range os.Args[1:] {
		f, n, err := runDir(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", dir, err)
			os.Exit(2)
		}
		failed += f
		total += n
	}
	fmt.Printf("%d cases, %d failed\n", total, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

func evalStdin(scriptPath string) error {
	script, err := os.ReadFile(scriptPath)
	if err != nil {
		return err
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	obj, err := decodeObject(in)
	if err != nil {
		return fmt.Errorf("stdin: %w", err)
	}
	hs, err := executeHealthLua(obj, string(script))
	if err != nil {
		return err
	}
	out, _ := json.Marshal(hs)
	fmt.Println(string(out))
	return nil
}

func runDir(dir string) (failed, total int, err error) {
	script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	if err != nil {
		return 0, 0, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
	if err != nil {
		return 0, 0, err
	}
	var tf testFile
	if err := yaml.UnmarshalStrict(raw, &tf); err != nil {
		return 0, 0, fmt.Errorf("health_test.yaml: %w", err)
	}
	if len(tf.Tests) == 0 {
		return 0, 0, fmt.Errorf("health_test.yaml has no tests")
	}
	for _, tc := range tf.Tests {
		total++
		in, err := os.ReadFile(filepath.Join(dir, tc.InputPath))
		if err != nil {
			return failed, total, err
		}
		obj, err := decodeObject(in)
		if err != nil {
			return failed, total, fmt.Errorf("%s: %w", tc.InputPath, err)
		}
		got, err := executeHealthLua(obj, string(script))
		if err != nil {
			fmt.Printf("FAIL %s %s: %v\n", dir, tc.InputPath, err)
			failed++
			continue
		}
		if *got != tc.HealthStatus {
			fmt.Printf("FAIL %s %s: got %+v, want %+v\n", dir, tc.InputPath, *got, tc.HealthStatus)
			failed++
			continue
		}
		fmt.Printf("ok   %s %s: %s %q\n", dir, tc.InputPath, got.Status, got.Message)
	}
	return failed, total, nil
}

// decodeObject reads one object (JSON or YAML) as Argo CD holds it: an Unstructured decoded by
// apimachinery (whole numbers as int64).
func decodeObject(in []byte) (map[string]any, error) {
	j, err := yaml.YAMLToJSON(in)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		return nil, err
	}
	return u.Object, nil
}

// executeHealthLua is Argo CD's own evaluation of a health script (no resource overrides, no
// useOpenLibs: as Argo CD runs scripts from argocd-cm).
func executeHealthLua(obj map[string]any, script string) (*HealthStatus, error) {
	hs, err := argolua.VM{}.ExecuteHealthLua(&unstructured.Unstructured{Object: obj}, script)
	if err != nil {
		return nil, err
	}
	return &HealthStatus{Status: string(hs.Status), Message: hs.Message}, nil
}
