// lua-health runs Argo CD resource health checks (resource_customizations/<group>/<Kind>/health.lua)
// against their health_test.yaml cases, the way Argo CD evaluates them: gopher-lua (the VM Argo CD
// embeds), only the base, table, package and a safe os library opened (Argo CD's default, without
// useOpenLibs), the object as the global `obj`, and the returned table read as {status, message}.
//
// Usage: lua-health DIR...      each DIR holds health.lua and health_test.yaml; exits 1 on a mismatch
//
//	lua-health eval SCRIPT    evaluates SCRIPT on the object given as JSON or YAML on stdin
//	                          and prints {"status":..,"message":..}
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

// The status codes Argo CD accepts from a health script (gitops-engine's health.HealthStatusCode).
var validStatus = map[string]bool{"Unknown": true, "Progressing": true, "Healthy": true, "Suspended": true, "Degraded": true, "Missing": true}

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

// decodeObject reads one object as Argo CD holds it: JSON semantics (numbers as int64 when they
// are whole, as the API server's JSON decoder gives them), from JSON or YAML.
func decodeObject(in []byte) (map[string]any, error) {
	j, err := yaml.YAMLToJSON(in)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	d := json.NewDecoder(bytesReader(j))
	d.UseNumber()
	if err := d.Decode(&obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// executeHealthLua is Argo CD's VM.ExecuteHealthLua (util/lua/lua.go) without useOpenLibs.
func executeHealthLua(obj map[string]any, script string) (*HealthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.fn), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return nil, err
		}
	}
	l.PreloadModule(lua.OsLibName, safeOsLoader)
	// Argo CD gives a script one second.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return nil, err
	}
	ret := l.Get(-1)
	switch ret.Type() {
	case lua.LTNil:
		return &HealthStatus{}, nil
	case lua.LTTable:
		b, err := json.Marshal(fromLua(ret))
		if err != nil {
			return nil, err
		}
		hs := &HealthStatus{}
		if string(b) == "{}" {
			// An empty table: luajson writes it as [], which Argo CD reads as an empty status.
			return hs, nil
		}
		if err := json.Unmarshal(b, hs); err != nil {
			return nil, fmt.Errorf("the returned table is not {status, message}: %w", err)
		}
		if !validStatus[hs.Status] {
			// What Argo CD reports for a status outside its list.
			return &HealthStatus{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
		}
		return hs, nil
	default:
		return nil, fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
	}
}

// Argo CD's safe os library: only time and date.
func openSafeOs(l *lua.LState) int {
	tab := l.RegisterModule(lua.OsLibName, map[string]lua.LGFunction{"time": osTime, "date": osDate})
	l.Push(tab)
	return 1
}

func safeOsLoader(l *lua.LState) int {
	l.Push(l.SetFuncs(l.NewTable(), map[string]lua.LGFunction{"time": osTime, "date": osDate}))
	return 1
}

func osTime(l *lua.LState) int {
	l.Push(lua.LNumber(time.Now().Unix()))
	return 1
}

func osDate(l *lua.LState) int {
	l.Push(lua.LString(time.Now().UTC().Format(time.RFC3339)))
	return 1
}
