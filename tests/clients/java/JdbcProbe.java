import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

/** pgjdbc against lakegate: DatabaseMetaData as DBeaver/Metabase/Tableau use it, fetch size, parameters. */
public class JdbcProbe {
    static int passed = 0;

    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError("FAILED: " + what);
        passed++;
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/lake" + (args.length > 1 ? args[1] : "");
        try (Connection c = DriverManager.getConnection(url, "demo", "")) {
            DatabaseMetaData md = c.getMetaData();
            check(md.getDatabaseProductVersion().startsWith("16.6"), "product version " + md.getDatabaseProductVersion());

            Set<String> schemas = new TreeSet<>();
            try (ResultSet rs = md.getSchemas()) { while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM")); }
            check(schemas.containsAll(List.of("bronze", "silver", "gold")), "schemas " + schemas);

            List<String> tables = new ArrayList<>();
            try (ResultSet rs = md.getTables(null, "silver", "%", new String[] {"TABLE"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME") + ":" + rs.getString("TABLE_TYPE"));
            }
            check(tables.equals(List.of("subscriptions:TABLE", "titles:TABLE", "users:TABLE", "watch_events:TABLE")), "tables " + tables);

            List<String> views = new ArrayList<>();
            try (ResultSet rs = md.getTables(null, "gold", "%", new String[] {"VIEW"})) {
                while (rs.next()) views.add(rs.getString("TABLE_NAME") + ":" + rs.getString("TABLE_TYPE") + ":" + rs.getString("REMARKS"));
            }
            check(views.contains("top_titles:VIEW:Watch time and audience per title, for the content team's weekly review."), "views " + views);

            Map<String, String> cols = new LinkedHashMap<>();
            try (ResultSet rs = md.getColumns(null, "silver", "titles", "%")) {
                while (rs.next()) {
                    cols.put(rs.getString("COLUMN_NAME"), rs.getString("TYPE_NAME") + "/" + rs.getInt("DATA_TYPE") + "/"
                        + rs.getInt("COLUMN_SIZE") + "/" + rs.getInt("DECIMAL_DIGITS") + "/" + rs.getInt("NULLABLE") + "/" + rs.getInt("ORDINAL_POSITION"));
                }
            }
            check(cols.size() == 11, "columns " + cols);
            check(cols.get("title_id").equals("int4/4/10/0/0/1"), "title_id " + cols.get("title_id"));
            check(cols.get("budget_usd").equals("numeric/2/14/2/1/8"), "budget_usd " + cols.get("budget_usd"));
            check(cols.get("name").startsWith("text/12/"), "name " + cols.get("name"));
            check(cols.get("genres").startsWith("_text/2003/"), "genres " + cols.get("genres"));

            try (ResultSet rs = md.getPrimaryKeys(null, "silver", "titles")) { check(!rs.next(), "no primary key"); }
            int types = 0;
            try (ResultSet rs = md.getTypeInfo()) { while (rs.next()) types++; }
            check(types > 10, "type info rows " + types);

            // Cursor-based fetching: autocommit off + fetch size → portal suspension inside BEGIN.
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("SELECT event_id FROM silver.watch_events ORDER BY event_id")) {
                ps.setFetchSize(500);
                long n = 0, last = 0;
                try (ResultSet rs = ps.executeQuery()) {
                    boolean ordered = true;
                    while (rs.next()) { long id = rs.getLong(1); ordered &= id > last; last = id; n++; }
                    check(ordered, "ordered");
                }
                check(n > 5000, "streamed rows " + n);
            }
            c.commit();
            c.setAutoCommit(true);

            // Parameters of several types.
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT count(*) FROM silver.watch_events WHERE user_id = ? AND event_date >= ? AND completed = ? AND device <> ?")) {
                ps.setLong(1, 5);
                ps.setDate(2, java.sql.Date.valueOf("2024-06-01"));
                ps.setBoolean(3, true);
                ps.setString(4, "none");
                try (ResultSet rs = ps.executeQuery()) { check(rs.next() && rs.getLong(1) >= 0, "count with params"); }
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT plan, monthly_recurring_revenue FROM gold.plan_revenue WHERE monthly_recurring_revenue > ? ORDER BY plan")) {
                ps.setBigDecimal(1, new BigDecimal("900.00"));
                List<String> plans = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) { while (rs.next()) plans.add(rs.getString(1) + "=" + rs.getBigDecimal(2)); }
                check(plans.equals(List.of("premium=1939.03", "standard=961.26")), "numeric params " + plans);
            }
            try (Statement st = c.createStatement()) {
                try { st.executeUpdate("DELETE FROM silver.users"); check(false, "write refused"); }
                catch (SQLException e) { check("25006".equals(e.getSQLState()), "sqlstate " + e.getSQLState()); }
            }
        }
        System.out.println("pgjdbc " + (args.length > 1 ? args[1] : "") + ": " + passed + " passed, 0 failed");
    }
}
