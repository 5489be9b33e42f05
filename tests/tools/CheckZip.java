// Reads a zip with Java's java.util.zip.ZipFile and compares it with what it should hold.
//
// usage: java CheckZip.java [--stream] ARCHIVE MANIFEST   (Java 11+ runs this source file directly)
// --stream reads it front to back with java.util.zip.ZipInputStream instead, as a service
// reading an upload as it arrives does: no central directory, so every local header must
// carry its entry's CRC-32 and sizes (ZipInputStream refuses a stored entry with a data
// descriptor).
// MANIFEST is JSON: {"entry name": "path of the source file" | null for a folder}, the
// format tests/tools/check_zip.py reads. Exits 0 and prints "ok N entries" when every entry
// is read in full through ZipFile with its CRC-32 and size matching the central directory,
// its bytes match the source file's, folders are folder entries, the names are exactly the
// manifest's, and no name is absolute or climbs out with "..". Otherwise prints what
// differs and exits 1. Run it with LC_ALL=C.UTF-8 so non-ASCII source paths resolve.

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipInputStream;

public class CheckZip {
    public static void main(String[] args) throws IOException {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        boolean stream = args.length == 3 && args[0].equals("--stream");
        if (stream) {
            args = Arrays.copyOfRange(args, 1, 3);
        }
        if (args.length != 2) {
            out.println("usage: java CheckZip.java [--stream] ARCHIVE MANIFEST");
            System.exit(2);
        }
        Map<String, String> manifest =
                new Json(Files.readString(Path.of(args[1]), StandardCharsets.UTF_8)).manifest();
        if (stream) {
            checkStream(Path.of(args[0]), manifest, out);
            return;
        }
        List<String> problems = new ArrayList<>();
        int entries = 0;
        // ZIP_NAME_ENCODING=gbk reads names without the UTF-8 flag as a GBK reader would.
        String encoding = System.getenv("ZIP_NAME_ENCODING");
        java.nio.charset.Charset nameCharset = encoding == null ? StandardCharsets.UTF_8 : java.nio.charset.Charset.forName(encoding);
        try (ZipFile zip = new ZipFile(args[0], nameCharset)) {
            Set<String> names = new HashSet<>();
            for (Enumeration<? extends ZipEntry> e = zip.entries(); e.hasMoreElements(); ) {
                ZipEntry entry = e.nextElement();
                entries++;
                String n = entry.getName();
                if (!names.add(n)) {
                    problems.add("duplicate name " + quote(n));
                }
                if (unsafe(n)) {
                    problems.add("unsafe name " + quote(n));
                }
                if (!manifest.containsKey(n)) {
                    continue;
                }
                String src = manifest.get(n);
                try {
                    if (src == null) {
                        checkFolder(zip, entry, problems);
                    } else {
                        checkFile(zip, entry, Path.of(src), problems);
                    }
                } catch (IOException | RuntimeException ex) {
                    problems.add(quote(n) + ": " + ex);
                }
            }
            Set<String> extra = new TreeSet<>(names);
            extra.removeAll(manifest.keySet());
            Set<String> missing = new TreeSet<>(manifest.keySet());
            missing.removeAll(names);
            if (!extra.isEmpty() || !missing.isEmpty()) {
                problems.add("names differ: extra " + extra + ", missing " + missing);
            }
        } catch (IOException | RuntimeException ex) {
            problems.add("cannot read the archive: " + ex);
        }
        if (!problems.isEmpty()) {
            problems.forEach(out::println);
            System.exit(1);
        }
        out.println("ok " + entries + " entries");
    }

    /** Front to back: every entry from its local header alone. */
    static void checkStream(Path archive, Map<String, String> manifest, PrintStream out)
            throws IOException {
        List<String> problems = new ArrayList<>();
        Set<String> names = new HashSet<>();
        int entries = 0;
        try (ZipInputStream zip = new ZipInputStream(
                new BufferedInputStream(Files.newInputStream(archive), 1 << 16),
                StandardCharsets.UTF_8)) {
            ZipEntry entry;
            while ((entry = zip.getNextEntry()) != null) {
                entries++;
                String n = entry.getName();
                if (!names.add(n)) {
                    problems.add("duplicate name " + quote(n));
                }
                if (!manifest.containsKey(n)) {
                    continue;
                }
                String src = manifest.get(n);
                if (src == null) {
                    if (!entry.isDirectory() || zip.read() != -1) {
                        problems.add(quote(n) + " should be an empty folder entry");
                    }
                    continue;
                }
                CRC32 crc = new CRC32();
                long size = 0;
                long firstDiff = -1;
                byte[] got = new byte[1 << 16];
                try (InputStream want =
                        new BufferedInputStream(Files.newInputStream(Path.of(src)), 1 << 16)) {
                    int k;
                    while ((k = zip.read(got)) != -1) {
                        crc.update(got, 0, k);
                        if (firstDiff < 0) {
                            byte[] w = want.readNBytes(k);
                            int at = Arrays.mismatch(got, 0, k, w, 0, w.length);
                            if (at >= 0) {
                                firstDiff = size + at;
                            }
                        }
                        size += k;
                    }
                    if (firstDiff < 0 && want.read() != -1) {
                        firstDiff = size;
                    }
                }
                // ZipInputStream has checked the local header's CRC-32 and size by now.
                if (crc.getValue() != entry.getCrc() || size != entry.getSize()) {
                    problems.add(quote(n) + ": the local header's CRC-32 or size is wrong");
                }
                if (firstDiff >= 0) {
                    problems.add(quote(n) + ": differs from the source at offset " + firstDiff);
                }
            }
        } catch (IOException | RuntimeException ex) {
            problems.add("cannot read the archive front to back: " + ex);
        }
        Set<String> missing = new TreeSet<>(manifest.keySet());
        missing.removeAll(names);
        Set<String> extra = new TreeSet<>(names);
        extra.removeAll(manifest.keySet());
        if (!extra.isEmpty() || !missing.isEmpty()) {
            problems.add("names differ: extra " + extra + ", missing " + missing);
        }
        if (!problems.isEmpty()) {
            problems.forEach(out::println);
            System.exit(1);
        }
        out.println("ok " + entries + " entries, front to back");
    }

    /** Absolute (`/x`, `C:x`), backslashes, NUL, or a `..` segment. */
    static boolean unsafe(String n) {
        return n.isEmpty()
                || n.startsWith("/")
                || n.contains("\\")
                || n.indexOf('\0') >= 0
                || (n.length() >= 2 && n.charAt(1) == ':')
                || Arrays.asList(n.split("/", -1)).contains("..");
    }

    static void checkFolder(ZipFile zip, ZipEntry entry, List<String> problems)
            throws IOException {
        String n = entry.getName();
        if (!entry.isDirectory()) {
            problems.add(quote(n) + " should be a folder");
            return;
        }
        try (InputStream in = zip.getInputStream(entry)) {
            if (in.read() != -1 || entry.getSize() != 0) {
                problems.add(quote(n) + ": a folder entry holds data");
            }
        }
    }

    /** Reads the entry in full, checking CRC-32 and size ourselves (ZipFile checks neither). */
    static void checkFile(ZipFile zip, ZipEntry entry, Path src, List<String> problems)
            throws IOException {
        String n = entry.getName();
        if (entry.isDirectory()) {
            problems.add(quote(n) + " should be a file, not a folder");
            return;
        }
        CRC32 crc = new CRC32();
        long size = 0;
        long firstDiff = -1;
        byte[] got = new byte[1 << 16];
        try (InputStream in = zip.getInputStream(entry);
                InputStream want = new BufferedInputStream(Files.newInputStream(src), 1 << 16)) {
            int k;
            while ((k = in.read(got)) != -1) {
                crc.update(got, 0, k);
                if (firstDiff < 0) {
                    byte[] w = want.readNBytes(k);
                    int at = Arrays.mismatch(got, 0, k, w, 0, w.length);
                    if (at >= 0) {
                        firstDiff = size + at;
                    }
                }
                size += k;
            }
            if (firstDiff < 0 && want.read() != -1) {
                firstDiff = size; // the source is longer
            }
        }
        long srcSize = Files.size(src);
        if (crc.getValue() != entry.getCrc()) {
            problems.add(String.format("%s: CRC-32 %08x, the central directory says %08x",
                    quote(n), crc.getValue(), entry.getCrc()));
        }
        if (size != entry.getSize()) {
            problems.add(quote(n) + ": read " + size + " bytes, the central directory says "
                    + entry.getSize());
        }
        if (firstDiff >= 0) {
            problems.add(quote(n) + ": " + size + " bytes differ from the source's " + srcSize
                    + " at offset " + firstDiff);
        }
    }

    static String quote(String s) {
        return "'" + s + "'";
    }

    /** Just enough JSON for the manifest: one object of strings or nulls. */
    static final class Json {
        private final String s;
        private int i;

        Json(String s) {
            this.s = s;
        }

        Map<String, String> manifest() {
            Map<String, String> m = new LinkedHashMap<>();
            expect('{');
            if (peek() == '}') {
                i++;
            } else {
                while (true) {
                    String key = string();
                    expect(':');
                    String value;
                    if (peek() == 'n' && s.startsWith("null", i)) {
                        i += 4;
                        value = null;
                    } else {
                        value = string();
                    }
                    if (m.containsKey(key)) {
                        throw new IllegalArgumentException("manifest: duplicate key " + key);
                    }
                    m.put(key, value);
                    char c = peek();
                    i++;
                    if (c == '}') {
                        break;
                    }
                    if (c != ',') {
                        throw error("',' or '}'");
                    }
                }
            }
            if (peek() != 0) {
                throw error("the end");
            }
            return m;
        }

        private char peek() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
            return i < s.length() ? s.charAt(i) : 0;
        }

        private void expect(char c) {
            if (peek() != c) {
                throw error("'" + c + "'");
            }
            i++;
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException("manifest: expected " + what + " at " + i);
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                char c = s.charAt(i++);
                if (c == '"') {
                    return b.toString();
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case '"': case '\\': case '/': b.append(e); break;
                    case 'b': b.append('\b'); break;
                    case 'f': b.append('\f'); break;
                    case 'n': b.append('\n'); break;
                    case 'r': b.append('\r'); break;
                    case 't': b.append('\t'); break;
                    case 'u':
                        b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                        break;
                    default: throw error("an escape");
                }
            }
        }
    }
}
