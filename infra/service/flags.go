package service

import (
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
)

// ErrHelp is returned by the parsers when help was asked for (and printed).
var ErrHelp = errors.New("help requested")

// commandLine is notify's command line, parsed by kong: the service by default (no command
// name needed), and two commands.
type commandLine struct {
	Serve       serveCmd       `cmd:"" default:"withargs" help:"Serves the HTTP API (and the Kafka bridge when brokers are set) until SIGTERM. Every flag has an environment twin; a flag wins over its twin, the twin over the default, and an empty variable counts as unset. See README.md, Configuration."`
	Projections projectionsCmd `cmd:"" help:"Rebuild a projection."`
	Check       checkCmd       `cmd:"" help:"Check the embedded files, the service stopped."`
}

type serveCmd struct {
	settings `embed:""`
}

type projectionsCmd struct {
	Replay replayCmd `cmd:"" help:"Rebuild projection <name> from position 0 into a fresh copy, promote the copy once it has caught up with the live one, and drop the old copy."`
}

type replayCmd struct {
	Name     string `arg:"" help:"the projection: inbox"`
	Server   string `name:"server" env:"NOTIFY_SERVER" placeholder:"URL" group:"replay" help:"ask the running service at URL to replay (POST /v1/projections/<name>/replay) and follow its progress, with the admin API key from NOTIFY_ADMIN_KEY; without it the replay runs in this process on the stores the flags below name: with the embedded stores the service must be stopped, with PostgreSQL the running instances keep serving"`
	settings `embed:""`
}

type checkCmd struct {
	DataDir string `name:"data-dir" env:"NOTIFY_DATA_DIR" default:"./data" placeholder:"DIR" help:"the data directory"`
}

// Help is the check command's detail in its help.
func (checkCmd) Help() string {
	return `Reads the embedded event log (events.db) and read model (inbox.db) in the data directory without changing them, with the service stopped: every page, every record's checksum, every document's seal, and whether the read model belongs to the log. Exit status 0: healthy; 1: damage found (what, where and what to do is printed); 2: bad usage.`
}

// usage is the synopsis of each command, printed above its help and after a refusal.
var usage = map[string]string{
	"serve":       "notify [serve] [flags]",
	"projections": "notify projections replay <name> [--server URL] [flags]",
	"check":       "notify check [--data-dir DIR]",
}

var flagGroups = kong.Groups{
	"stores": "Stores:",
	"http":   "HTTP API:",
	"sse":    "Live streams (SSE):",
	"auth":   "Authentication (the secrets: see Environment only below):",
	"kafka":  "Kafka (off while --kafka-brokers is empty):",
	"ops":    "Operations:",
	"replay": "Replay:",
}

// adminKey is the replay command's own secret.
var adminKey = secret{"NOTIFY_ADMIN_KEY", "", "API key with scope admin that replay --server sends"}

// parseCommandLine parses args and the environment (through getenv, never the process's own:
// kong would read os.Getenv and take an empty variable as set) with the grammar of
// commandLine. Help is printed to stdout (then the error is ErrHelp). A value that is not of
// its flag's type is a *valueError; any other refusal a *usageError.
func parseCommandLine(args []string, getenv func(string) string, stdout io.Writer) (*commandLine, *kong.Context, error) {
	var cl commandLine
	helped := false
	k, err := newParser(&cl, getenv, stdout, func(int) { helped = true }) // only help exits; it has printed by then
	if err != nil {
		return nil, nil, err // the grammar itself is wrong: a test catches it
	}
	kctx, err := k.Parse(args)
	if helped {
		return nil, nil, ErrHelp
	}
	if err != nil {
		var ve *valueError
		if errors.As(err, &ve) {
			return nil, nil, ve
		}
		var pe *kong.ParseError
		if errors.As(err, &pe) && pe.Context != nil {
			return nil, nil, &usageError{err: err, hint: hint(pe.Context.Model.Node, args), command: commandOf(pe.Context.Selected())}
		}
		return nil, nil, &usageError{err: err, command: "serve"}
	}
	return &cl, kctx, nil
}

// newParser is kong's parser of commandLine into cl, with our environment (getenv), types,
// help (to stdout) and exit (called after help only).
func newParser(cl *commandLine, getenv func(string) string, stdout io.Writer, exit func(int)) (*kong.Kong, error) {
	return kong.New(cl,
		kong.Name("notify"),
		kong.Writers(stdout, io.Discard),
		kong.Exit(exit),
		// As with the flag package, the argument after a flag is its value even when it
		// begins with a dash: --sse-ring -1 is refused as below 1, not as an unknown flag.
		kong.WithHyphenPrefixedParameters(true),
		kong.Vars(settingDefaults),
		flagGroups,
		kong.Resolvers(envResolver(getenv)),
		kong.TypeMapper(reflect.TypeFor[string](), scalar{"STRING", "", func(s string) (any, bool) { return s, true }}),
		kong.TypeMapper(reflect.TypeFor[int](), scalar{"INT", "a whole number", func(s string) (any, bool) {
			n, err := strconv.Atoi(s)
			return n, err == nil
		}}),
		kong.TypeMapper(reflect.TypeFor[uint64](), scalar{"INT", "a whole number (0 or more)", func(s string) (any, bool) {
			n, err := strconv.ParseUint(s, 10, 64)
			return n, err == nil
		}}),
		kong.TypeMapper(reflect.TypeFor[float64](), scalar{"FLOAT", "a number", func(s string) (any, bool) {
			f, err := strconv.ParseFloat(s, 64)
			return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
		}}),
		kong.TypeMapper(reflect.TypeFor[time.Duration](), scalar{"DURATION", "a duration (e.g. 500ms, 15s, 2m)", func(s string) (any, bool) {
			d, err := time.ParseDuration(s)
			return d, err == nil
		}}),
		kong.TypeMapper(reflect.TypeFor[bool](), scalar{"BOOL", "true or false", func(s string) (any, bool) {
			b, err := strconv.ParseBool(s)
			return b, err == nil
		}}),
		kong.ValueFormatter(describe),
		kong.Help(printHelp),
		kong.PostBuild(func(k *kong.Kong) error {
			// The variables are read by envResolver; with them left in the model kong would
			// read the process environment before it.
			return kong.Visit(k.Model, func(n kong.Visitable, next kong.Next) error {
				if f, ok := n.(*kong.Flag); ok {
					f.Envs, f.Tag.Envs = nil, nil
				}
				return next(nil)
			})
		}),
	)
}

// envResolver gives kong a flag's environment twin (its env tag), read through getenv; an
// empty or blank variable counts as unset. kong asks only for flags not on the command line,
// so a flag wins over its twin.
func envResolver(getenv func(string) string) kong.ResolverFunc {
	return func(_ *kong.Context, _ *kong.Path, f *kong.Flag) (any, error) {
		env := f.Tag.Get("env")
		if env == "" {
			return nil, nil
		}
		if v := strings.TrimSpace(getenv(env)); v != "" {
			return v, nil
		}
		return nil, nil
	}
}

// scalar is the mapper of one type of flag: its placeholder in help, and a parser whose
// refusal names the flag and its twin in our words, never the Go parser's.
type scalar struct {
	placeholder, want string
	parse             func(string) (any, bool)
}

func (m scalar) Decode(ctx *kong.DecodeContext, target reflect.Value) error {
	if m.placeholder == "BOOL" && ctx.Scan.Peek().Type != kong.FlagValueToken {
		target.SetBool(true) // a bare switch: --insecure
		return nil
	}
	refuse := func(why string) error {
		return &valueError{name: ctx.Value.Name, env: ctx.Value.Tag.Get("env"), why: why}
	}
	if ctx.Scan.Peek().IsEOL() {
		return refuse("needs a value")
	}
	var s string
	if err := ctx.Scan.PopValueInto(strings.ToLower(m.placeholder), &s); err != nil {
		return err
	}
	s = strings.TrimSpace(s)
	v, ok := m.parse(s)
	if !ok {
		return refuse(fmt.Sprintf("%q is not %s", s, m.want))
	}
	target.Set(reflect.ValueOf(v).Convert(target.Type()))
	return nil
}

// IsBool makes a bool flag a switch that needs no value.
func (m scalar) IsBool() bool { return m.placeholder == "BOOL" }

func (m scalar) PlaceHolder(f *kong.Flag) string {
	if f.PlaceHolder != "" {
		return f.PlaceHolder
	}
	return m.placeholder
}

// valueError is a value that is not of its flag's type, or a flag without its value.
type valueError struct{ name, env, why string }

func (e *valueError) Error() string {
	if e.env == "" {
		return fmt.Sprintf("--%s: %s", e.name, e.why)
	}
	return fmt.Sprintf("--%s / %s: %s", e.name, e.env, e.why)
}

// usageError is a command line that kong could not take (an unknown flag, a stray argument,
// a missing one).
type usageError struct {
	err     error
	hint    string // what was probably meant, if anything
	command string // the command it was read for: a key of usage
}

func (e *usageError) Error() string {
	if e.hint != "" {
		return e.err.Error() + "; " + e.hint
	}
	return e.err.Error()
}

func (e *usageError) Unwrap() error { return e.err }

// printUsage writes the synopsis of the command the refused line was read for.
func (e *usageError) printUsage(w io.Writer) {
	help := "notify --help"
	if e.command != "serve" {
		help = "notify " + e.command + " --help"
	}
	fmt.Fprintf(w, "usage: %s\n(%s lists the flags)\n", usage[e.command], help)
}

// commandOf names the top-level command node n belongs to (serve when none).
func commandOf(n *kong.Node) string {
	for ; n != nil; n = n.Parent {
		if n.Parent != nil && n.Parent.Type == kong.ApplicationNode {
			return n.Name
		}
	}
	return "serve"
}

// hint guesses what a refused command line meant: the forms the flag package took and kong
// does not (-data-dir for --data-dir, --kafka-tls true for --kafka-tls).
func hint(app *kong.Node, args []string) string {
	flags := map[string]*kong.Flag{}
	_ = kong.Visit(app, func(n kong.Visitable, next kong.Next) error {
		if f, ok := n.(*kong.Flag); ok {
			flags[f.Name] = f
		}
		return next(nil)
	})
	for i, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := flags[name]
		switch {
		case f == nil || len(name) < 2:
		case !strings.HasPrefix(a, "--"):
			return fmt.Sprintf("long flags take two dashes: --%s", strings.TrimPrefix(a, "-"))
		case f.IsBool() && !strings.Contains(a, "=") && i+1 < len(args) && isBoolWord(args[i+1]):
			return fmt.Sprintf("--%s is a switch: --%s, or --%s=%s", name, name, name, args[i+1])
		}
	}
	return ""
}

func isBoolWord(s string) bool {
	_, err := strconv.ParseBool(s)
	return err == nil
}

// describe is a flag's help text with its default and its environment twin.
func describe(v *kong.Value) string {
	var notes []string
	if v.Default != "" {
		notes = append(notes, "default "+v.Default)
	}
	if env := v.Tag.Get("env"); env != "" {
		notes = append(notes, "env "+env)
	}
	if len(notes) == 0 {
		return v.Help
	}
	return v.Help + " (" + strings.Join(notes, "; ") + ")"
}

// printHelp is kong's help, with the synopsis above it and the environment-only settings
// below; help for the service (notify --help) and for projections is that of the command
// that takes the flags.
func printHelp(options kong.HelpOptions, ctx *kong.Context) error {
	command := commandOf(ctx.Selected())
	var path []string
	var envOnly []secret
	switch command {
	case "serve":
		path, envOnly = []string{"serve"}, append(append([]secret{}, secrets...), adminKey)
	case "projections":
		path, envOnly = []string{"projections", "replay"}, append([]secret{adminKey}, secrets...)
	default:
		path = []string{command}
	}
	sub, err := kong.Trace(ctx.Kong, path)
	if err != nil {
		return err
	}
	w := ctx.Stdout
	fmt.Fprintf(w, "Usage: %s\n", usage[command])
	if command == "serve" {
		fmt.Fprintf(w, "       %s\n       %s\n", usage["projections"], usage["check"])
	}
	options.NoAppSummary = true
	if err := kong.DefaultHelpPrinter(options, sub); err != nil {
		return err
	}
	if len(envOnly) > 0 {
		fmt.Fprintln(w, "\nEnvironment only (secrets: a flag would show in the process list):")
		width := 0
		for _, s := range envOnly {
			width = max(width, len(s.env))
		}
		for _, s := range envOnly {
			fmt.Fprintf(w, "  %-*s    %s\n", width, s.env, s.help)
			if s.file != "" {
				fmt.Fprintf(w, "  %-*s    (or in a file: --%s)\n", width, "", s.file)
			}
		}
	}
	if command == "serve" {
		fmt.Fprintln(w, "\nCommands:\n  notify projections --help   rebuild a projection\n  notify check --help         check the embedded files, the service stopped")
	}
	return nil
}

// SettingEnvs returns the environment twins of the service's flags (not the secrets), as the
// grammar defines them: for tools that check an environment against it (deploy/helm/envcheck).
func SettingEnvs() []string {
	k, err := newParser(&commandLine{}, func(string) string { return "" }, io.Discard, func(int) {})
	if err != nil {
		panic("service: the command-line grammar does not build: " + err.Error())
	}
	var envs []string
	for _, n := range k.Model.Children {
		if n.Name == "serve" {
			for _, f := range n.Flags {
				if e := f.Tag.Get("env"); e != "" {
					envs = append(envs, e)
				}
			}
		}
	}
	return envs
}
