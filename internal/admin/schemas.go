package admin

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/flowbridge/flowbridge/internal/cli"
	"github.com/flowbridge/flowbridge/internal/events"
	"github.com/flowbridge/flowbridge/schemas"
)

// schemasCommand is `bridge schemas`: the event schemas the bridge validates with, the
// built-in ones and SCHEMAS_DIR's.
func schemasCommand(io IO) *cobra.Command {
	c := &cobra.Command{
		Use:   "schemas",
		Short: "list and show the JSON Schemas event data is validated against",
		Long: `The bridge validates each event's data against the JSON Schema of its type: the built-in
schemas, plus the files <type>.json of SCHEMAS_DIR, which add types or replace built-in ones.`,
	}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "list the event types with a schema, and where each schema comes from",
		Args:  cli.NoArgs(""),
	}
	lsJSON := cli.JSONFlag(ls)
	lsDir := schemasDirFlag(ls, io)
	ls.RunE = func(*cobra.Command, []string) error {
		sch, err := events.LoadSchemasDir(schemas.FS, *lsDir)
		if err != nil {
			return err
		}
		type row struct {
			Type   string `json:"type"`
			Source string `json:"source"` // "built-in" or the file
		}
		rows := []row{}
		for _, t := range sch.Types() {
			rows = append(rows, row{t, sch.Source(t)})
		}
		if *lsJSON {
			return cli.WriteJSON(io.Stdout, map[string]any{"schemas": rows})
		}
		w := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TYPE\tSOURCE")
		for _, r := range rows {
			fmt.Fprintf(w, "%s\t%s\n", r.Type, r.Source)
		}
		return w.Flush()
	}
	show := &cobra.Command{
		Use:   "show TYPE",
		Short: "print the schema of an event type, as written",
		Args:  cli.Args(1, 1, "one event TYPE"),
	}
	showJSON := cli.JSONFlag(show)
	showDir := schemasDirFlag(show, io)
	show.RunE = func(_ *cobra.Command, args []string) error {
		sch, err := events.LoadSchemasDir(schemas.FS, *showDir)
		if err != nil {
			return err
		}
		typ := args[0]
		raw := sch.Raw(typ)
		if raw == nil {
			return fmt.Errorf("no schema for event type %q (bridge schemas ls lists them)", typ)
		}
		if *showJSON {
			return cli.WriteJSON(io.Stdout, map[string]any{"type": typ, "source": sch.Source(typ), "schema": json.RawMessage(raw)})
		}
		_, err = io.Stdout.Write(raw)
		return err
	}
	c.AddCommand(ls, show)
	return c
}
