package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/quota"
	"github.com/parry-soar/parry/internal/secret"
)

// cecpTokenEnv holds a CECP token for ad-hoc calls.
const cecpTokenEnv = "PARRY_CECP_TOKEN"

// maxInputBytes bounds a file or stdin read by a cecp command.
const maxInputBytes = 64 << 20

// cecpFlags are the flags every `parry cecp` command shares.
type cecpFlags struct {
	connection, baseURL, region, tokenFile string
	timeout                                time.Duration
}

func (a *app) newCECPCmd() *cobra.Command {
	f := &cecpFlags{}
	cmd := &cobra.Command{
		Use:   "cecp",
		Short: "Call the Trend Micro CECP API (a tenant or the simulator) directly",
		Long: "Call the Trend Micro Cloud Email and Collaboration Protection API directly, for ad-hoc work and debugging.\n\n" +
			"Name the tenant with --connection NAME (from cecp.connections in the config; the default connection when " +
			"none is named) or give an endpoint with --base-url URL or --region (us, eu, jp, au, uk, ca, sg, in). " +
			"The token comes from --token-file FILE, else the connection's token_secret (PARRY_SECRET_<NAME> or a file " +
			"in secrets.dir), else the " + cecpTokenEnv + " environment variable.\n\n" +
			"Requests share the connection's quota (20 per minute unless rate_limit says otherwise); a command waits for " +
			"a free slot and says so on stderr. Each vendor parameter is a flag of the same name with - for _. " +
			"--json prints {\"items\": [...]}, the shape of every list command, each item with the vendor's field names.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.connection, "connection", "", "CECP connection from the config (default: cecp.default_connection)")
	pf.StringVar(&f.baseURL, "base-url", "", "API base URL, e.g. http://127.0.0.1:9090 for the simulator")
	pf.StringVar(&f.region, "region", "", "API region: "+strings.Join(cecp.Regions(), ", "))
	pf.StringVar(&f.tokenFile, "token-file", "", "file holding the API token (default: the connection's token_secret, else $"+cecpTokenEnv+")")
	pf.DurationVar(&f.timeout, "timeout", 0, "bound on one request (default: the connection's timeout, else 30s)")
	a.bindSettings(pf, "secrets.dir", "data_dir")
	cmd.AddCommand(
		a.newCECPSecurityEventsCmd(f),
		a.newCECPQuarantineEventsCmd(f),
		a.newCECPQuarantineDownloadCmd(f),
		a.newCECPSweepCmd(f),
		a.newCECPMitigateMailsCmd(f),
		a.newCECPMitigateAccountsCmd(f),
		a.newCECPMitigationResultsCmd(f),
		a.newCECPBlocklistCmd(f),
	)
	return cmd
}

// cecpSession is a client for one command, with what the command needs to know about the connection.
type cecpSession struct {
	client *cecp.Client
	conn   config.CECPConnection
	cfg    config.Config
}

// cecpClient resolves the connection, token and quota and builds the client. Requests wait for quota and say so.
func (a *app) cecpClient(cmd *cobra.Command, f *cecpFlags) (*cecpSession, error) {
	if f.connection != "" && (f.baseURL != "" || f.region != "") {
		return nil, usageErrorf("--connection cannot be combined with --base-url or --region")
	}
	if f.baseURL != "" && f.region != "" {
		return nil, usageErrorf("--base-url and --region cannot be combined")
	}
	if f.timeout < 0 {
		return nil, usageErrorf("--timeout cannot be negative")
	}
	cfg, err := a.loadConfig(cmd)
	if err != nil {
		return nil, err
	}
	var conn config.CECPConnection
	adHoc := f.baseURL != "" || f.region != ""
	// parry dev's simulator is connection "sim" of that process only; it writes where it is in the data dir.
	devSim, haveDevSim := readDevSimConnection(cfg.DataDir)
	fromDev := false
	if adHoc {
		conn = config.CECPConnection{BaseURL: f.baseURL, Region: f.region}
	} else {
		_, simConfigured := cfg.Connection("sim")
		switch {
		case haveDevSim && (f.connection == "sim" && simConfigured != nil || f.connection == "" && len(cfg.CECP.Connections) == 0):
			conn, fromDev = devSim, true
		case f.connection == "" && len(cfg.CECP.Connections) == 0:
			return nil, usageErrorf("name a CECP tenant: --connection NAME (cecp.connections in the config), --base-url URL or --region REGION")
		default:
			if conn, err = cfg.Connection(f.connection); err != nil {
				if f.connection == "sim" {
					return nil, usageErrorf("%v (parry dev's simulator is connection sim once parry dev has started with this data dir, %s)", err, cfg.DataDir)
				}
				return nil, usageErrorf("%v", err)
			}
		}
	}
	var token cecp.TokenSource
	if fromDev && f.tokenFile == "" {
		token = cecp.StaticToken(devSimToken)
	} else if token, err = a.cecpToken(f, cfg, conn, adHoc); err != nil {
		return nil, err
	}
	limit, err := quota.LimitFor(conn)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	key := conn.Name
	if key == "" {
		key = "ad hoc"
	}
	lim, err := quota.NewMemory(quota.Options{Keys: map[string]quota.Limit{key: limit}})
	if err != nil {
		return nil, err
	}
	timeout := f.timeout
	if timeout == 0 {
		timeout = conn.Timeout
	}
	c, err := cecp.New(cecp.Options{
		Region: conn.Region, BaseURL: conn.BaseURL, Token: token, Timeout: timeout,
		MaxDownloadBytes: conn.MaxDownloadBytes, MaxBatch: conn.BatchSize,
		Limiter: lim, QuotaKey: key, WaitForQuota: true,
		OnQuotaWait: func(d time.Duration) {
			fmt.Fprintf(a.stderr, "parry: waiting %s for a slot of the CECP quota of %s (%d per %s)\n",
				d.Round(100*time.Millisecond), key, limit.Requests, limit.Window)
		},
	})
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	return &cecpSession{client: c, conn: conn, cfg: cfg}, nil
}

// cecpToken picks the token: --token-file, else the connection's token_secret, else $PARRY_CECP_TOKEN.
func (a *app) cecpToken(f *cecpFlags, cfg config.Config, conn config.CECPConnection, adHoc bool) (cecp.TokenSource, error) {
	if f.tokenFile != "" {
		tok, err := readSecretFile(f.tokenFile)
		if err != nil {
			return nil, usageErrorf("reading --token-file: %v", err)
		}
		return cecp.StaticToken(tok), nil
	}
	if !adHoc && conn.TokenSecret != "" {
		return cecp.SecretToken(secret.Chain{secret.Env{Getenv: a.getenv}, secret.Dir{Path: cfg.Secrets.Dir}}, conn.TokenSecret), nil
	}
	if tok := strings.TrimSpace(a.getenv(cecpTokenEnv)); tok != "" {
		return cecp.StaticToken(tok), nil
	}
	// A missing token is not a usage mistake (the command line was right): exit 1 with how to give one.
	if adHoc {
		return nil, fmt.Errorf("no CECP token: give one with --token-file FILE or set %s", cecpTokenEnv)
	}
	return nil, fmt.Errorf("no CECP token: connection %q has no token_secret; give one with --token-file FILE, set %s, or give the connection a token_secret in the config", conn.Name, cecpTokenEnv)
}

// readSecretFile reads a small file holding one secret, trimming surrounding whitespace.
func readSecretFile(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, secret.MaxBytes+1))
	if err != nil {
		return "", err
	}
	if len(data) > secret.MaxBytes {
		return "", fmt.Errorf("%s is larger than %d bytes", path, secret.MaxBytes)
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

// readInput reads FILE, or stdin for "-", up to maxInputBytes.
func (a *app) readInput(path string) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = a.stdin
	} else {
		fh, err := os.Open(path)
		if err != nil {
			return nil, usageErrorf("reading %s: %v", path, err)
		}
		defer fh.Close()
		r = fh
	}
	data, err := io.ReadAll(io.LimitReader(r, maxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", displayPath(path), err)
	}
	if len(data) > maxInputBytes {
		return nil, usageErrorf("%s is larger than %d MiB", displayPath(path), maxInputBytes>>20)
	}
	return data, nil
}

func displayPath(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

// cecpErr turns a request the client refused to send into a usage error (exit 2); vendor errors stay failures.
func cecpErr(err error) error {
	var ve *cecp.ValidationError
	if errors.As(err, &ve) {
		return &exitError{code: ExitUsage, err: err}
	}
	return err
}

func parseTimeArg(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "now-"):
		d, err := time.ParseDuration(s[len("now-"):])
		if err != nil || d < 0 {
			return time.Time{}, fmt.Errorf("%q: want now-DURATION, like now-2h", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-01-02T03:04:05Z), a date (2026-01-02), now or now-DURATION", s)
}

// timeVar offers a time flag: RFC 3339 (2026-01-02T03:04:05Z), a date (UTC midnight), now, or now-DURATION.
func timeVar(fs *pflag.FlagSet, p *time.Time, name, usage string) {
	fs.Var((*timeValue)(p), name, usage+" (RFC 3339, a date, or now-DURATION like now-2h)")
}

type timeValue time.Time

func (v *timeValue) Type() string { return "time" }

func (v *timeValue) String() string {
	if time.Time(*v).IsZero() {
		return ""
	}
	return time.Time(*v).UTC().Format(time.RFC3339)
}

func (v *timeValue) Set(s string) error {
	t, err := parseTimeArg(s, time.Now())
	if err != nil {
		return err
	}
	*v = timeValue(t)
	return nil
}

// listFlags are the paging flags of list commands.
type listFlags struct {
	limit, maxResults int
	all, asJSON       bool
}

func (l *listFlags) add(fs *pflag.FlagSet, max int) {
	fs.IntVar(&l.limit, "limit", 0, fmt.Sprintf("page size, at most %d (the vendor's limit parameter)", max))
	fs.BoolVar(&l.all, "all", false, "follow next_link through every page (up to --max-results)")
	fs.IntVar(&l.maxResults, "max-results", cecp.DefaultMaxResults, "with --all, stop after this many items")
	fs.BoolVar(&l.asJSON, "json", false, `print {"items": [the vendor's items]} as JSON, with the vendor's field names`)
}

// bound is the MaxResults of the query: one page without --all.
func (l *listFlags) bound(defaultPage int) (int, error) {
	if l.maxResults <= 0 {
		return 0, usageErrorf("--max-results must be positive")
	}
	if l.all {
		return l.maxResults, nil
	}
	if l.limit > 0 {
		return l.limit, nil
	}
	return defaultPage, nil
}

// table is a list printed as a table or as JSON in the shape of every list command, {"items": [...]}, item by
// item, so that the items read before an error are still printed (and the JSON still closed) when the error is
// reported.
type table[T any] struct {
	w      io.Writer
	asJSON bool
	tw     *tabwriter.Writer
	row    func(T) []string
	n      int
}

func newTable[T any](w io.Writer, asJSON bool, header []string, row func(T) []string) *table[T] {
	t := &table[T]{w: w, asJSON: asJSON, row: row}
	if !asJSON {
		t.tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(t.tw, strings.Join(header, "\t"))
	}
	return t
}

func (t *table[T]) add(v T) error {
	defer func() { t.n++ }()
	if !t.asJSON {
		cells := t.row(v)
		for i, c := range cells {
			cells[i] = cell(c)
		}
		_, err := fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
		return err
	}
	// Indented as writeList indents a list, without HTML escapes (as writeJSON).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("    ", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	sep := ",\n    "
	if t.n == 0 {
		sep = "{\n  \"items\": [\n    "
	}
	_, err := fmt.Fprintf(t.w, "%s%s", sep, bytes.TrimRight(buf.Bytes(), "\n"))
	return err
}

func (t *table[T]) close() error {
	if !t.asJSON {
		return t.tw.Flush()
	}
	if t.n == 0 {
		_, err := io.WriteString(t.w, "{\n  \"items\": []\n}\n")
		return err
	}
	_, err := io.WriteString(t.w, "\n  ]\n}\n")
	return err
}

// cell makes a value safe for one table cell: one line, no tabs, at most 60 characters.
func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || r < 0x20 {
			return ' '
		}
		return r
	}, s)
	if s == "" {
		return "-"
	}
	if utf8.RuneCountInString(s) > 60 {
		return string([]rune(s)[:59]) + "…"
	}
	return s
}

// listPages prints one page, or every page with --all, of p through t.
func listPages[T any](ctx context.Context, a *app, p *cecp.Pager[T], lf *listFlags, t *table[T]) error {
	var err error
	if lf.all {
		for it, e := range p.All(ctx) {
			if e != nil {
				err = e
				break
			}
			if err = t.add(it); err != nil {
				break
			}
		}
	} else {
		var page cecp.Page[T]
		page, err = p.Next(ctx)
		for _, it := range page.Items {
			if err = t.add(it); err != nil {
				break
			}
		}
		if err == nil && page.NextLink != "" {
			defer fmt.Fprintln(a.stderr, "parry: more results on the next page: use --all to follow them")
		}
	}
	if cerr := t.close(); err == nil {
		err = cerr
	}
	if err != nil {
		if t.n > 0 {
			fmt.Fprintf(a.stderr, "parry: printed the %d items read before the error\n", t.n)
		}
		return cecpErr(err)
	}
	return nil
}

func fmtVendorTime(t cecp.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
