package main

import (
	"bytes"
	"encoding/json"
	"sort"

	lua "github.com/yuin/gopher-lua"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// toLua turns a decoded JSON value into Lua values as Argo CD's decodeValue does: objects and
// arrays become tables (arrays 1-based), numbers LNumber, null nil.
func toLua(l *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case json.Number:
		f, _ := x.Float64()
		return lua.LNumber(f)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case []any:
		t := l.NewTable()
		for _, e := range x {
			t.Append(toLua(l, e))
		}
		return t
	case map[string]any:
		t := l.NewTable()
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.RawSetString(k, toLua(l, x[k]))
		}
		return t
	default:
		return lua.LNil
	}
}

// fromLua turns the script's returned table back into Go values (string keys only; that is all a
// health status has).
func fromLua(v lua.LValue) any {
	switch x := v.(type) {
	case lua.LBool:
		return bool(x)
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return float64(x)
	case *lua.LTable:
		m := map[string]any{}
		x.ForEach(func(k, val lua.LValue) { m[k.String()] = fromLua(val) })
		return m
	default:
		return nil
	}
}
