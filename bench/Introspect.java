// The catalog calls a JDBC tool (DBeaver, Metabase, Tableau) makes when it opens a database:
// getSchemas, getTables, and getColumns + getPrimaryKeys for every table. Prints one JSON line
// with the median milliseconds of the whole sequence over N rounds (after one warm-up).
//   java -cp /usr/share/java/postgresql.jar bench/Introspect.java JDBC_URL USER ROUNDS
import java.sql.*;
import java.util.*;

public class Introspect {
    public static void main(String[] args) throws Exception {
        String url = args[0], user = args[1];
        int rounds = Integer.parseInt(args[2]);
        List<Double> times = new ArrayList<>();
        int tables = 0, columns = 0;
        try (Connection c = DriverManager.getConnection(url, user, "")) {
            for (int r = 0; r <= rounds; r++) {
                long t = System.nanoTime();
                DatabaseMetaData md = c.getMetaData();
                try (ResultSet rs = md.getSchemas()) { while (rs.next()) { } }
                List<String[]> names = new ArrayList<>();
                try (ResultSet rs = md.getTables(null, null, "%", new String[] {"TABLE", "VIEW"})) {
                    while (rs.next()) {
                        String schema = rs.getString("TABLE_SCHEM");
                        if (!schema.equals("pg_catalog") && !schema.equals("information_schema")) {
                            names.add(new String[] {schema, rs.getString("TABLE_NAME")});
                        }
                    }
                }
                int cols = 0;
                for (String[] n : names) {
                    try (ResultSet rs = md.getColumns(null, n[0], n[1], "%")) { while (rs.next()) cols++; }
                    try (ResultSet rs = md.getPrimaryKeys(null, n[0], n[1])) { while (rs.next()) { } }
                }
                double ms = (System.nanoTime() - t) / 1e6;
                if (r > 0) times.add(ms);
                tables = names.size();
                columns = cols;
            }
        }
        Collections.sort(times);
        System.out.printf(Locale.ROOT, "{\"tables\": %d, \"columns\": %d, \"median_ms\": %.2f}%n",
            tables, columns, times.get(times.size() / 2));
    }
}
