package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// pkg is one directory of the module: its import path and the imports and string literals of its files.
type pkg struct {
	path    string
	dir     string
	imports map[string][]string // import path → the files (relative to the module root) importing it, no tests
	tests   map[string][]string // the same for _test.go files
	files   []*parsedFile       // the non-test files
}

type parsedFile struct {
	rel  string
	fset *token.FileSet
	file *ast.File
}

// module reads every Go file of the module once (imports and literals; test data and hidden dirs skipped).
type module struct {
	root, name string
	pkgs       map[string]*pkg // by import path
}

func loadModule(t *testing.T) *module {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("no go.mod above the test's directory")
		}
		root = parent
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod names no module")
	}
	mod := &module{root: root, name: string(m[1]), pkgs: map[string]*pkg{}}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		dirRel := filepath.ToSlash(filepath.Dir(rel))
		ip := mod.name
		if dirRel != "." {
			ip += "/" + dirRel
		}
		pk := mod.pkgs[ip]
		if pk == nil {
			pk = &pkg{path: ip, dir: dirRel, imports: map[string][]string{}, tests: map[string][]string{}}
			mod.pkgs[ip] = pk
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		isTest := strings.HasSuffix(name, "_test.go")
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			if isTest {
				pk.tests[path] = append(pk.tests[path], filepath.ToSlash(rel))
			} else {
				pk.imports[path] = append(pk.imports[path], filepath.ToSlash(rel))
			}
		}
		if !isTest {
			pk.files = append(pk.files, &parsedFile{rel: filepath.ToSlash(rel), fset: fset, file: f})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return mod
}

// closure is the module's packages that from imports (itself included), without tests.
func (m *module) closure(from string) []*pkg {
	seen := map[string]bool{}
	var out []*pkg
	var walk func(string)
	walk = func(ip string) {
		if seen[ip] {
			return
		}
		seen[ip] = true
		pk := m.pkgs[ip]
		if pk == nil {
			return
		}
		out = append(out, pk)
		for dep := range pk.imports {
			if strings.HasPrefix(dep, m.name+"/") {
				walk(dep)
			}
		}
	}
	walk(from)
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

func under(dir, prefix string) bool { return dir == prefix || strings.HasPrefix(dir, prefix+"/") }

// sqlStatement matches a string literal that is a SQL statement (not an HTTP route such as "DELETE /v1/x").
var sqlStatement = regexp.MustCompile(`(?is)^\s*(SELECT\s.*\bFROM\s|INSERT\s+INTO\s|UPDATE\s+\S+\s+SET\s|DELETE\s+FROM\s|` +
	`(CREATE|ALTER|DROP)\s+(TABLE|INDEX|UNIQUE\s+INDEX|DATABASE|ROLE|SCHEMA|EXTENSION)\s|WITH\s+\w+\s+AS\s*\(|TRUNCATE\s)`)

// TestSQLOnlyInStore: SQL statements and the PostgreSQL driver live in internal/store; consumers declare the
// interfaces they need and the store implements them.
func TestSQLOnlyInStore(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	// Each exception says why it is not the system of record's SQL.
	allowedSQL := map[string]string{
		"internal/devserver/database.go": "checks the schema of the embedded Temporal server's own SQLite file",
	}
	allowedDriver := map[string]string{
		"internal/pglocal": "starts a PostgreSQL cluster and waits for it to accept connections (dev and tests)",
	}
	var problems []string
	for _, pk := range m.pkgs {
		if under(pk.dir, "internal/store") {
			continue
		}
		for imp, files := range pk.imports {
			if strings.HasPrefix(imp, "github.com/jackc/pgx") || imp == "database/sql" && !under(pk.dir, "internal/devserver") {
				if _, ok := allowedDriver[pk.dir]; !ok {
					problems = append(problems, files[0]+" imports "+imp)
				}
			}
		}
		for _, f := range pk.files {
			if _, ok := allowedSQL[f.rel]; ok {
				continue
			}
			ast.Inspect(f.file, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(lit.Value)
				if err == nil && sqlStatement.MatchString(s) {
					pos := f.fset.Position(lit.Pos())
					problems = append(problems, f.rel+":"+strconv.Itoa(pos.Line)+": SQL "+strconv.Quote(clip(s)))
				}
				return true
			})
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Errorf("outside internal/store: %s", p)
	}
}

// TestWorkflowCodeHasNoIO: the workflow code and everything of the module it imports reach no network, file,
// process or database: determinism and replay depend on it.
func TestWorkflowCodeHasNoIO(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	forbidden := []string{"net", "net/http", "os", "os/exec", "io/ioutil", "database/sql", "syscall", "math/rand", "math/rand/v2", "crypto/rand",
		"github.com/jackc/pgx", m.name + "/internal/store", m.name + "/internal/cecp", m.name + "/internal/api", m.name + "/activities"}
	for _, pk := range m.closure(m.name + "/workflows") {
		for imp, files := range pk.imports {
			for _, f := range forbidden {
				// net/url, net/netip and net/mail parse; only net itself and net/http reach the network.
				if imp == f || f != "net" && strings.HasPrefix(imp, f+"/") {
					t.Errorf("%s (reached from workflows/) imports %s", files[0], imp)
				}
			}
		}
	}
}

// TestVendorClientKnowsNoTemporal: internal/cecp is a plain HTTP client of the vendor's API, usable from the
// CLI and the simulator's tests without the workflow engine.
func TestVendorClientKnowsNoTemporal(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	for _, pk := range m.closure(m.name + "/internal/cecp") {
		for imp, files := range pk.imports {
			if strings.HasPrefix(imp, "go.temporal.io/") {
				t.Errorf("%s (reached from internal/cecp) imports %s", files[0], imp)
			}
		}
	}
}

// TestTemporalServerOnlyInDevAndEndToEnd: the embedded Temporal server (a 210 MB build) is imported only by
// internal/devserver and by end-to-end test files, so that ordinary unit tests build in seconds.
func TestTemporalServerOnlyInDevAndEndToEnd(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	for _, pk := range m.pkgs {
		if under(pk.dir, "internal/devserver") {
			continue
		}
		for imp, files := range pk.imports {
			if strings.HasPrefix(imp, "go.temporal.io/server") {
				t.Errorf("%s imports %s (only internal/devserver may)", files[0], imp)
			}
		}
		if under(pk.dir, "internal/e2e") {
			continue
		}
		for imp, files := range pk.tests {
			if strings.HasPrefix(imp, "go.temporal.io/server") {
				t.Errorf("%s imports %s (only end-to-end tests under internal/e2e may)", files[0], imp)
			}
		}
	}
}

// TestRulesSeeTheModule guards the other tests against passing vacuously: the walk finds the packages and the
// SQL the rules are about.
func TestRulesSeeTheModule(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	for _, want := range []string{"/workflows", "/internal/store", "/internal/cecp", "/internal/devserver"} {
		if m.pkgs[m.name+want] == nil {
			t.Fatalf("the walk found no package %s", want)
		}
	}
	n := 0
	for _, f := range m.pkgs[m.name+"/internal/store"].files {
		ast.Inspect(f.file, func(nd ast.Node) bool {
			if lit, ok := nd.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && sqlStatement.MatchString(s) {
					n++
				}
			}
			return true
		})
	}
	if n < 20 {
		t.Fatalf("the SQL pattern matches only %d statements in internal/store", n)
	}
	if len(m.closure(m.name+"/workflows")) < 3 {
		t.Fatal("the workflows closure is implausibly small")
	}
	for _, s := range []string{"DELETE /v1/tokens/{name}", "select a mail"} {
		if sqlStatement.MatchString(s) {
			t.Errorf("%q is taken for SQL", s)
		}
	}
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
