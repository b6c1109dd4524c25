/* The MySQL lexer's common case in C (p2pdb/sql/lexer.py has the rules and the reference function).
 *
 * ``lex`` in Python costs about 11 us for sysbench's INSERT and about 2 us per literal of a
 * multi-row INSERT; this module does the same work in a single pass over the text. It answers
 * exactly what lexer.py's ``lex`` answers, or None where it does not take the statement, and the
 * caller then runs the Python function. It declines (returns None):
 *
 * - outside strings, backquoted names and comments, a digit outside ASCII or a character that
 *   case-insensitive matching or str.upper() reads as ASCII letters (``declines``); every other
 *   character is classed as the Python rules class it (word character, white space: Unicode's);
 * - an unterminated string, backquoted name or comment (the regular expression then goes on
 *   inside it);
 * - a string right after a string (MySQL joins them), a string after ``N`` (a national string);
 * - an integer of more than 18 digits (int64 or not is decided in Python).
 *
 * ``version`` changes whenever these rules change: a build of another version is not used.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define LEX_VERSION 6

typedef struct {
    PyObject *str;
    int kind;
    const void *data;
    Py_ssize_t n;
} Text;

static inline Py_UCS4 at(const Text *t, Py_ssize_t i) {
    return i < t->n && i >= 0 ? PyUnicode_READ(t->kind, t->data, i) : 0;
}

/* A growing buffer of code points: the statement's shape. Its characters outside ASCII are never
 * digits nor letters that fold to ASCII (lex_into declines those outside literals, which the shape
 * replaces by parameters), so the walks over it compare keywords in ASCII and class the rest as
 * Python's re does (is_w, is_space). */
typedef struct {
    Py_UCS4 *buf;
    Py_ssize_t len, cap;
} Out;

static int out_reserve(Out *o, Py_ssize_t more) {
    if (o->len + more <= o->cap) return 0;
    Py_ssize_t cap = (o->len + more) * 2 + 64;
    Py_UCS4 *b = PyMem_Realloc(o->buf, (size_t)cap * sizeof(Py_UCS4));
    if (b == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    o->buf = b;
    o->cap = cap;
    return 0;
}

static int out_text(Out *o, const Text *t, Py_ssize_t start, Py_ssize_t end) {
    if (out_reserve(o, end - start) < 0) return -1;
    for (Py_ssize_t i = start; i < end; i++) o->buf[o->len++] = PyUnicode_READ(t->kind, t->data, i);
    return 0;
}

static int out_ascii(Out *o, const char *s) {
    Py_ssize_t n = (Py_ssize_t)strlen(s);
    if (out_reserve(o, n) < 0) return -1;
    for (Py_ssize_t i = 0; i < n; i++) o->buf[o->len++] = (unsigned char)s[i];
    return 0;
}

/* ASCII's digits and letters: what the rules' ``[0-9]``, ``[A-Za-z]`` and keywords match. */
static inline int is_digit(Py_UCS4 c) { return c >= '0' && c <= '9'; }
static inline int is_alpha(Py_UCS4 c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline int is_hex(Py_UCS4 c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
/* \w of Python's re (str.isalnum() or '_'), Unicode's: the same function the re module uses. */
static inline int is_w(Py_UCS4 c) {
    return c < 0x80 ? is_alpha(c) || is_digit(c) || c == '_' : Py_UNICODE_ISALNUM(c);
}
/* [\w$] */
static inline int is_word(Py_UCS4 c) { return is_w(c) || c == '$'; }
/* str.isspace() and \s of Python's re, Unicode's */
static inline int is_space(Py_UCS4 c) {
    return c < 0x80 ? c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f) : Py_UNICODE_ISSPACE(c);
}
static inline Py_UCS4 upper(Py_UCS4 c) { return (c >= 'a' && c <= 'z') ? c - 32 : c; }
static inline Py_UCS4 lower(Py_UCS4 c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

#define DECLINE (-2)

/* Characters outside ASCII that case-insensitive matching takes for ASCII letters (dotted and
 * dotless i, the long s, the Kelvin sign), and those whose str.upper() holds ASCII letters (sharp s
 * is SS, the ligature fi is FI, ...): every code point whose upper, lower or folded case holds an
 * ASCII letter (tests/sql/test_lexer_native.py checks the list against Python's own). */
static const Py_UCS4 FOLDS[] = {0xdf,   0x130,  0x131,  0x149,  0x17f,  0x1f0,  0x1e96,
                                0x1e97, 0x1e98, 0x1e99, 0x1e9a, 0x1e9e, 0x212a, 0xfb00,
                                0xfb01, 0xfb02, 0xfb03, 0xfb04, 0xfb05, 0xfb06};
static int folds(Py_UCS4 c) {
    if (c < 0x80) return 0;
    for (size_t k = 0; k < sizeof(FOLDS) / sizeof(FOLDS[0]); k++) {
        if (c == FOLDS[k]) return 1;
    }
    return 0;
}

/* A character outside ASCII, outside literals, that the rules would read as something this module
 * does not: a digit (\d and str.isdecimal() are Unicode's: ``1\u0663`` is one number there), or a
 * letter that case-insensitive matching takes for an ASCII one (``ORDER``, the introducers and the
 * clause words could be spelt with it). A letter whose str.upper() holds ASCII letters matters only
 * where a word is put in upper case (the type before its arguments: ``in_type_arguments``). */
static int declines(Py_UCS4 c) {
    if (c < 0x80) return 0;
    return Py_UNICODE_ISDIGIT(c) || c == 0x130 || c == 0x131 || c == 0x17f || c == 0x212a;
}

/* Whether ``word`` (lower case) is at ``i``, ignoring ASCII case. */
static int word_at(const Text *t, Py_ssize_t i, const char *word) {
    for (Py_ssize_t k = 0; word[k]; k++) {
        if (lower(at(t, i + k)) != (Py_UCS4)word[k] || i + k >= t->n) return 0;
    }
    return 1;
}

/* lexer.py's _BY_CLAUSE.search(sql) (``\b(?:ORDER|GROUP)\s+BY\b``): 1, 0 or DECLINE. */
static int by_clause(const Text *t) {
    for (Py_ssize_t i = 0; i < t->n; i++) {
        if (!word_at(t, i, "order") && !word_at(t, i, "group")) continue;
        Py_UCS4 before = i > 0 ? at(t, i - 1) : 0, after;
        if (declines(before)) return DECLINE;
        if (is_w(before)) continue;
        Py_ssize_t k = i + 5;
        while (k < t->n && is_space(at(t, k))) k++;
        if (declines(at(t, k))) return DECLINE;
        if (k == i + 5 || !word_at(t, k, "by")) continue;
        after = at(t, k + 2);
        if (declines(after)) return DECLINE;
        if (!is_w(after)) return 1;
    }
    return 0;
}

/* ``by`` and ``order`` or ``group`` anywhere, in any case: in a statement with a comment, which the
 * shape reads as a blank (``ORDER``, a comment, ``BY 1`` is a position), lexer.py's ``positions``. */
static int by_words_anywhere(const Text *t) {
    int by = 0, clause = 0;
    for (Py_ssize_t i = 0; i < t->n && !(by && clause); i++) {
        by = by || word_at(t, i, "by");
        clause = clause || word_at(t, i, "order") || word_at(t, i, "group");
    }
    return by && clause;
}

/* lexer.py's _ITEM_END.match(sql[e:]): 1, 0 or DECLINE. */
static int item_end(const Text *t, Py_ssize_t e) {
    static const char *words[] = {"asc", "desc", "limit", "having", "with", "window", "for",
                                  "lock", "union", "into", "order", "collate", NULL};
    Py_ssize_t k = e;
    while (k < t->n && is_space(at(t, k))) k++;
    if (k >= t->n) return 1;
    Py_UCS4 c = at(t, k);
    if (declines(c)) return DECLINE;
    if (c == ',' || c == ')' || c == ';') return 1;
    for (int w = 0; words[w] != NULL; w++) {
        if (!word_at(t, k, words[w])) continue;
        Py_UCS4 next = at(t, k + (Py_ssize_t)strlen(words[w]));
        if (declines(next)) return DECLINE;
        if (!is_w(next)) return 1;
    }
    return 0;
}

/* lexer.py's _BY_END.search over the shape so far (``\b(?:ORDER|GROUP)\s+BY\s*$``). */
static int by_end(const Out *o) {
    const Py_UCS4 *b = o->buf;
    Py_ssize_t k = o->len;
    while (k > 0 && is_space(b[k - 1])) k--;
    if (k < 2 || lower(b[k - 2]) != 'b' || lower(b[k - 1]) != 'y') return 0;
    Py_ssize_t m = k - 2;
    while (m > 0 && is_space(b[m - 1])) m--;
    if (m == k - 2 || m < 5) return 0;
    static const char *words[] = {"order", "group", NULL};
    for (int w = 0; words[w] != NULL; w++) {
        Py_ssize_t j = 0;
        while (j < 5 && lower(b[m - 5 + j]) == (Py_UCS4)words[w][j]) j++;
        if (j == 5 && (m == 5 || !is_w(b[m - 6]))) return 1;
    }
    return 0;
}

/* Whether the lower-case ``word`` is at ``i`` of the shape ``b`` (``n`` code points long). */
static int word_in(const Py_UCS4 *b, Py_ssize_t n, Py_ssize_t i, const char *word) {
    for (Py_ssize_t k = 0; word[k]; k++) {
        if (i + k >= n || lower(b[i + k]) != (Py_UCS4)word[k]) return 0;
    }
    return 1;
}

enum { CTX_NONE, CTX_PAREN, CTX_OTHER, CTX_BY };

/* The walk back over the shape so far (its _CONTEXT tokens; tests/sql/test_lexer_positions.py keeps
 * it as the rule's reference; lexer.py's _Positions also walks forward), done forward: each
 * open parenthesis starts a frame, a closing one drops it, and a frame keeps its last token (an
 * open parenthesis, ORDER BY / GROUP BY, or another clause keyword). The walk back stops at the
 * innermost open frame's last token: a position only after ORDER BY or GROUP BY.
 *
 * The walk goes on from where the previous one stopped: it is asked only when the shape ends with
 * a comma (and blanks), so no token it read can grow later, and the shape before that point never
 * changes (an introducer is cut from the segment after it). A statement costs one pass, where the
 * walk back read the whole statement again for each integer (quadratic in an IN list). */
typedef struct {
    Py_ssize_t pos, depth, cap;
    unsigned char *frames;
} Walk;

/* 1: a position, 0: not, -1: no memory. */
static int comma_position(const Out *o, Walk *walk) {
    static const char *keywords[] = {"select", "values", "value", "set", "where", "having", "limit", "from",
                                     "on", "into", "in", "using", NULL};
    static const char *by[] = {"order", "group", "partition", NULL};
    const Py_UCS4 *b = o->buf;
    Py_ssize_t n = o->len;
    if (walk->frames == NULL) {
        walk->cap = 16;
        walk->frames = PyMem_Malloc((size_t)walk->cap);
        if (walk->frames == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        walk->frames[0] = CTX_NONE;
    }
    if (walk->pos > n) { /* (cannot happen, see above; were it to, the walk starts over) */
        walk->pos = walk->depth = 0;
        walk->frames[0] = CTX_NONE;
    }
    unsigned char *frames = walk->frames;
    Py_ssize_t depth = walk->depth, i = walk->pos;
    while (i < n) {
        Py_UCS4 c = b[i];
        if (c == '`') { /* a backquoted name; unterminated, the backquote alone */
            Py_ssize_t j = i + 1;
            while (j < n && !(b[j] == '`' && !(j + 1 < n && b[j + 1] == '`'))) j += b[j] == '`' ? 2 : 1;
            i = j < n ? j + 1 : i + 1;
            continue;
        }
        if (c == '(') {
            if (depth + 1 >= walk->cap) {
                unsigned char *more = PyMem_Realloc(frames, (size_t)walk->cap * 2);
                if (more == NULL) {
                    PyErr_NoMemory();
                    return -1;
                }
                walk->frames = frames = more;
                walk->cap *= 2;
            }
            frames[++depth] = CTX_PAREN;
            i++;
            continue;
        }
        if (c == ')') {
            if (depth > 0) {
                depth--;
            } else {
                frames[0] = CTX_NONE; /* nothing before it counts any more */
            }
            i++;
            continue;
        }
        if (!is_alpha(c) || (i > 0 && is_w(b[i - 1]))) {
            i++;
            continue;
        }
        int found = 0;
        for (int w = 0; by[w] != NULL && !found; w++) { /* (ORDER|GROUP|PARTITION)\s+BY\b */
            Py_ssize_t len = (Py_ssize_t)strlen(by[w]), k = i + len;
            if (!word_in(b, n, i, by[w])) continue;
            while (k < n && is_space(b[k])) k++;
            if (k == i + len || !word_in(b, n, k, "by") || (k + 2 < n && is_w(b[k + 2]))) continue;
            frames[depth] = w < 2 ? CTX_BY : CTX_OTHER;
            i = k + 2;
            found = 1;
        }
        for (int w = 0; keywords[w] != NULL && !found; w++) {
            Py_ssize_t len = (Py_ssize_t)strlen(keywords[w]);
            if (!word_in(b, n, i, keywords[w]) || (i + len < n && is_w(b[i + len]))) continue;
            frames[depth] = CTX_OTHER;
            i += len;
            found = 1;
        }
        if (!found) i++;
    }
    walk->pos = i;
    walk->depth = depth;
    return frames[depth] == CTX_BY;
}

/* Whether the shape so far ends with a comma, blanks aside. */
static int ends_with_comma(const Out *o) {
    Py_ssize_t k = o->len;
    while (k > 0 && is_space(o->buf[k - 1])) k--;
    return k > 0 && o->buf[k - 1] == ',';
}

/* The end of the quoted text that starts at ``i`` (the quote), past its closing quote; backslash
 * escapes and, if ``doubled``, the quote doubled inside. DECLINE if it does not end. */
static Py_ssize_t quoted_end(const Text *t, Py_ssize_t i, Py_UCS4 quote, int escapes, int doubled) {
    Py_ssize_t j = i + 1;
    while (j < t->n) {
        Py_UCS4 c = PyUnicode_READ(t->kind, t->data, j);
        if (escapes && c == '\\') {
            if (j + 1 >= t->n) return DECLINE;
            j += 2;
        } else if (c == quote) {
            if (doubled && at(t, j + 1) == quote) {
                j += 2;
            } else {
                return j + 1;
            }
        } else {
            j++;
        }
    }
    return DECLINE;
}

/* The number that starts at ``i`` (a digit, or '.' then a digit), as lexer.py's ``num`` alternative
 * with its backtracking: the end of the match, or -1 for none, DECLINE for non-ASCII around it. */
static Py_ssize_t number_end(const Text *t, Py_ssize_t i) {
    Py_ssize_t j = i, q, s;
    int dot = 0;
    if (at(t, i) == '.') {
        j = i + 1;
        while (is_digit(at(t, j))) j++;
        s = j;
        q = -1;
    } else {
        while (is_digit(at(t, j))) j++;
        q = j;
        if (at(t, j) == '.') {
            dot = 1;
            j++;
            while (is_digit(at(t, j))) j++;
        }
        s = j;
    }
    /* with an exponent */
    Py_UCS4 c = at(t, s);
    if (c == 'e' || c == 'E') {
        Py_ssize_t u = s + 1;
        if (at(t, u) == '+' || at(t, u) == '-') u++;
        if (is_digit(at(t, u))) {
            while (is_digit(at(t, u))) u++;
            Py_UCS4 after = at(t, u);
            if (declines(after)) return DECLINE;
            if (!is_word(after)) return u;
        }
    }
    Py_UCS4 after = at(t, s);
    if (declines(after)) return DECLINE;
    if (!is_word(after)) return s;
    if (dot) return q; /* the digits before the '.' alone */
    return -1;
}

/* lexer.py's _in_type_arguments over ``o->buf[from:]`` (see Out): 1, 0 or DECLINE. */
static int in_type_arguments(const Out *o, Py_ssize_t from) {
    static const char *words[] = {"DECIMAL", "DEC", "NUMERIC", "FIXED", "CHAR", "NCHAR", "VARCHAR", "BINARY",
                                  "VARBINARY", "DATETIME", "TIME", "TIMESTAMP", "FLOAT", "DOUBLE", NULL};
    Py_ssize_t end = o->len;
    const Py_UCS4 *b = o->buf;
    while (end > from && is_space(b[end - 1])) end--;
    if (end > from && b[end - 1] == ',') {
        end--;
        while (end > from && is_space(b[end - 1])) end--;
        Py_ssize_t digits = end;
        while (end > from && is_digit(b[end - 1])) end--;
        if (end == digits) return 0;
        while (end > from && is_space(b[end - 1])) end--;
    }
    if (!(end > from && b[end - 1] == '(')) return 0;
    end--;
    while (end > from && is_space(b[end - 1])) end--;
    Py_ssize_t start = end;
    while (start > from && is_w(b[start - 1])) start--; /* str.isalnum() or "_" */
    for (Py_ssize_t k = start; k < end; k++) {
        if (folds(b[k])) return DECLINE; /* its upper case may be longer, and a type's name */
    }
    Py_ssize_t n = end - start;
    for (int w = 0; words[w] != NULL; w++) {
        if ((Py_ssize_t)strlen(words[w]) != n) continue;
        Py_ssize_t k = 0;
        while (k < n && upper(b[start + k]) == (Py_UCS4)words[w][k]) k++;
        if (k == n) return 1;
    }
    return 0;
}

/* lexer.py's _INTRODUCER over the segment ``o->buf[from:]``: the introducer's start (the
 * segment is then cut there), or -1; ``*binary`` set for _binary. */
static Py_ssize_t introducer(const Out *o, Py_ssize_t from, int *binary) {
    static const char *names[] = {"binary", "utf8mb4", "utf8mb3", "utf8", "latin1", "ascii", NULL};
    const Py_UCS4 *b = o->buf;
    Py_ssize_t end = o->len;
    while (end > from && is_space(b[end - 1])) end--;
    for (int w = 0; names[w] != NULL; w++) {
        Py_ssize_t n = (Py_ssize_t)strlen(names[w]);
        Py_ssize_t start = end - n - 1; /* the '_' */
        if (start < from || b[start] != '_') continue;
        Py_ssize_t k = 0;
        while (k < n && lower(b[start + 1 + k]) == (Py_UCS4)names[w][k]) k++;
        if (k != n) continue;
        if (start > from && is_word(b[start - 1])) continue;
        *binary = w == 0;
        return start;
    }
    return -1;
}

/* A string body with MySQL's escapes and the doubled quote undone (lexer.py's _unescape). */
static PyObject *unescape(const Text *t, Py_ssize_t start, Py_ssize_t end, Py_UCS4 quote) {
    int plain = 1;
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 c = PyUnicode_READ(t->kind, t->data, i);
        if (c == '\\' || c == quote) {
            plain = 0;
            break;
        }
    }
    if (plain) return PyUnicode_Substring(t->str, start, end);
    Py_UCS4 *buf = PyMem_Malloc((size_t)(end - start + 1) * sizeof(Py_UCS4));
    if (buf == NULL) return PyErr_NoMemory();
    Py_ssize_t n = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 c = PyUnicode_READ(t->kind, t->data, i);
        if (c == '\\' && i + 1 < end) {
            Py_UCS4 e = PyUnicode_READ(t->kind, t->data, i + 1);
            i++;
            switch (e) {
                case '0': buf[n++] = 0; break;
                case 'b': buf[n++] = '\b'; break;
                case 'n': buf[n++] = '\n'; break;
                case 'r': buf[n++] = '\r'; break;
                case 't': buf[n++] = '\t'; break;
                case 'Z': buf[n++] = 0x1a; break;
                case '%':
                case '_':
                    buf[n++] = '\\';
                    buf[n++] = e;
                    break;
                default: buf[n++] = e;
            }
        } else if (c == quote && i + 1 < end && PyUnicode_READ(t->kind, t->data, i + 1) == quote) {
            buf[n++] = quote;
            i++;
        } else {
            buf[n++] = c;
        }
    }
    PyObject *s = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, n);
    PyMem_Free(buf);
    return s;
}

/* lexer.py's _text_or_bytes (``binary``: the bytes always). Steals ``s``. */
static PyObject *text_or_bytes(PyObject *s, int binary) {
    if (s == NULL) return NULL;
    if (!binary && PyUnicode_IS_ASCII(s)) return s;
    int surrogates = 0;
    if (!PyUnicode_IS_ASCII(s)) {
        int kind = PyUnicode_KIND(s);
        const void *data = PyUnicode_DATA(s);
        Py_ssize_t n = PyUnicode_GET_LENGTH(s);
        for (Py_ssize_t i = 0; i < n && kind != PyUnicode_1BYTE_KIND; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c >= 0xD800 && c <= 0xDFFF) {
                surrogates = 1;
                break;
            }
        }
    }
    if (!binary && !surrogates) return s;
    PyObject *b = PyUnicode_AsEncodedString(s, "utf-8", "surrogateescape");
    Py_DECREF(s);
    return b;
}

static PyObject *hex_bytes(const Text *t, Py_ssize_t start, Py_ssize_t end) {
    Py_ssize_t nd = end - start, nb = (nd + 1) / 2;
    PyObject *b = PyBytes_FromStringAndSize(NULL, nb);
    if (b == NULL) return NULL;
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(b);
    Py_ssize_t k = nd % 2 ? -1 : 0; /* an odd count: a leading 0 */
    for (Py_ssize_t i = 0; i < nb; i++, k += 2) {
        unsigned v = 0;
        for (Py_ssize_t m = k; m < k + 2; m++) {
            Py_UCS4 c = m < 0 ? '0' : PyUnicode_READ(t->kind, t->data, start + m);
            v = v * 16 + (unsigned)(is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        p[i] = (unsigned char)v;
    }
    return b;
}

static PyObject *bit_bytes(const Text *t, Py_ssize_t start, Py_ssize_t end) {
    Py_ssize_t nd = end - start, nb = (nd + 7) / 8;
    if (nb < 1) nb = 1;
    PyObject *b = PyBytes_FromStringAndSize(NULL, nb);
    if (b == NULL) return NULL;
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(b);
    memset(p, 0, (size_t)nb);
    for (Py_ssize_t i = 0; i < nd; i++) {
        Py_ssize_t bit = nd - 1 - i; /* from the right */
        if (PyUnicode_READ(t->kind, t->data, start + i) == '1') p[nb - 1 - bit / 8] |= (unsigned char)(1u << (bit % 8));
    }
    return b;
}

enum { K_NONE, K_CMT, K_VCMT, K_SQ, K_DQ, K_HEX, K_XHEX, K_BIT, K_XBIT, K_NUM, K_Q, K_SYS, K_USER, K_BQ };

/* The token at ``i`` (lexer.py's _TOKEN, alternatives in its order): its kind and ``*end``,
 * K_NONE, or DECLINE. */
static int token_at(const Text *t, Py_ssize_t i, Py_ssize_t *end) {
    Py_UCS4 c = at(t, i), d = at(t, i + 1);
    Py_UCS4 before = i > 0 ? at(t, i - 1) : 0;
    Py_ssize_t j;
    switch (c) {
        case '`':
            j = quoted_end(t, i, '`', 0, 1);
            if (j == DECLINE) return DECLINE;
            *end = j;
            return K_BQ;
        case '#':
            for (j = i + 1; j < t->n && at(t, j) != '\n'; j++) {
            }
            *end = j;
            return K_CMT;
        case '-':
            if (d != '-') return K_NONE;
            {
                Py_UCS4 e = at(t, i + 2);
                if (e == ' ' || e == '\t') {
                    for (j = i + 3; j < t->n && at(t, j) != '\n'; j++) {
                    }
                    *end = j;
                    return K_CMT;
                }
                if (i + 2 >= t->n || e == '\n') {
                    *end = i + 2;
                    return K_CMT;
                }
            }
            return K_NONE;
        case '/':
            if (d != '*') return K_NONE;
            if (at(t, i + 2) == '!') {
                for (j = i + 3; is_digit(at(t, j)); j++) {
                }
                if (declines(at(t, j))) return DECLINE; /* \d is Unicode's */
                *end = j;
                return K_VCMT;
            }
            for (j = i + 2; j + 1 < t->n; j++) {
                if (at(t, j) == '*' && at(t, j + 1) == '/') {
                    *end = j + 2;
                    return K_CMT;
                }
            }
            return DECLINE;
        case '*':
            if (d != '/') return K_NONE;
            *end = i + 2;
            return K_VCMT;
        case '\'':
        case '"':
            j = quoted_end(t, i, c, 1, 1);
            if (j == DECLINE) return DECLINE;
            *end = j;
            return c == '\'' ? K_SQ : K_DQ;
        case '?':
            *end = i + 1;
            return K_Q;
        case '@':
            if (d == '@') {
                static const char *scopes[] = {"global", "session", "local", NULL};
                Py_ssize_t p = i + 2, name = -1;
                for (int w = 0; scopes[w] != NULL && name < 0; w++) {
                    Py_ssize_t n = (Py_ssize_t)strlen(scopes[w]), k = 0;
                    while (k < n && at(t, p + k) == (Py_UCS4)scopes[w][k]) k++;
                    Py_UCS4 first = at(t, p + n + 1);
                    if (k == n && at(t, p + n) == '.' && (is_alpha(first) || first == '_')) name = p + n + 1;
                }
                if (name < 0 && (is_alpha(at(t, p)) || at(t, p) == '_')) name = p;
                if (name >= 0) {
                    for (j = name + 1; is_word(at(t, j)); j++) {
                    }
                    if (at(t, j) == '.' && (is_alpha(at(t, j + 1)) || at(t, j + 1) == '_')) {
                        for (j = j + 2; is_word(at(t, j)); j++) {
                        }
                    }
                    if (declines(at(t, j))) return DECLINE;
                    *end = j;
                    return K_SYS;
                }
                if (declines(at(t, p))) return DECLINE;
            }
            if (d == '`') {
                j = quoted_end(t, i + 1, '`', 0, 1);
                if (j == DECLINE) return DECLINE;
                *end = j;
                return K_USER;
            }
            if (d == '\'') {
                j = quoted_end(t, i + 1, '\'', 1, 0);
                if (j == DECLINE) return DECLINE;
                *end = j;
                return K_USER;
            }
            if (is_alpha(d) || d == '_' || d == '$' || d == '.') {
                for (j = i + 2; is_word(at(t, j)) || at(t, j) == '.'; j++) {
                }
                if (declines(at(t, j))) return DECLINE;
                *end = j;
                return K_USER;
            }
            if (declines(d)) return DECLINE;
            return K_NONE;
        case 'x':
        case 'X':
            if (d == '\'') {
                for (j = i + 2; is_hex(at(t, j)); j++) {
                }
                if (at(t, j) == '\'') {
                    *end = j + 1;
                    return K_XHEX;
                }
            }
            return K_NONE;
        case 'b':
        case 'B':
            if (d == '\'') {
                for (j = i + 2; at(t, j) == '0' || at(t, j) == '1'; j++) {
                }
                if (at(t, j) == '\'') {
                    *end = j + 1;
                    return K_XBIT;
                }
            }
            return K_NONE;
        default:
            break;
    }
    if (c == '.' && !is_digit(d)) return K_NONE;
    if (!is_digit(c) && c != '.') return K_NONE;
    if (declines(before)) return DECLINE;
    if (c == '0' && (d == 'x' || d == 'b') && !is_word(before)) {
        j = i + 2;
        if (d == 'x') {
            while (is_hex(at(t, j))) j++;
        } else {
            while (at(t, j) == '0' || at(t, j) == '1') j++;
        }
        if (declines(at(t, j))) return DECLINE;
        if (j > i + 2 && !is_word(at(t, j))) {
            *end = j;
            return d == 'x' ? K_HEX : K_BIT;
        }
    }
    if (is_word(before) || before == '.') return K_NONE;
    j = number_end(t, i);
    if (j == DECLINE) return DECLINE;
    if (j < 0) return K_NONE;
    *end = j;
    return K_NUM;
}


typedef struct {
    PyObject *params, *raw, *placeholders, *sysvars, *uservars;
} Parts;

static int append_steal(PyObject *list, PyObject *item) {
    if (item == NULL) return -1;
    int r = PyList_Append(list, item);
    Py_DECREF(item);
    return r;
}

static int set_steal(PyObject *dict, const char *key, PyObject *value) {
    if (value == NULL) return -1;
    int r = PyDict_SetItemString(dict, key, value);
    Py_DECREF(value);
    return r;
}

static int starts_token(Py_UCS4 c) {
    switch (c) {
        case '`': case '#': case '-': case '/': case '*': case '\'': case '"': case 'x': case 'X':
        case 'b': case 'B': case '.': case '?': case '@':
            return 1;
        default:
            return is_digit(c);
    }
}

/* The value of the literal [i, end) of ``kind``, after the segment's introducer (``binary``). */
static PyObject *literal(const Text *t, int kind, Py_ssize_t i, Py_ssize_t end, int binary) {
    switch (kind) {
        case K_SQ:
        case K_DQ:
            return text_or_bytes(unescape(t, i + 1, end - 1, at(t, i)), binary);
        case K_HEX:
            return hex_bytes(t, i + 2, end);
        case K_XHEX:
            return hex_bytes(t, i + 2, end - 1);
        case K_BIT:
            return bit_bytes(t, i + 2, end);
        case K_XBIT:
            return bit_bytes(t, i + 2, end - 1);
        case K_NUM: {
            PyObject *text = PyUnicode_Substring(t->str, i, end);
            if (text == NULL) return NULL;
            PyObject *v = PyFloat_FromString(text);
            Py_DECREF(text);
            return v;
        }
        default:
            Py_RETURN_NONE;
    }
}

/* Lexes ``t`` into ``o`` and ``p``: 1 done, 0 declined, -1 error. */
static int lex_into(const Text *t, Out *o, Parts *p, Walk *walk) {
    int positions = by_clause(t); /* ORDER BY / GROUP BY: an integer there may be a position */
    if (positions == DECLINE) return 0;
    /* Without the words next to each other, a comment may stand between them: every position then
     * comes after a comment, so the words are looked for anywhere at the first one. */
    int loose = !positions;
    Py_ssize_t pos = 0;               /* text consumed up to here */
    Py_ssize_t starts[3] = {0, 0, 0}; /* where the last three pieces of lexer.py's ``out`` start */
    int last_string = 0;              /* the previous token was a string literal */
    Py_ssize_t i = 0;
    char name[40];
#define PIECE() (starts[0] = starts[1], starts[1] = starts[2], starts[2] = o->len)
    while (i < t->n) {
        Py_UCS4 c = PyUnicode_READ(t->kind, t->data, i);
        if (declines(c)) return 0;
        if (!starts_token(c)) {
            i++;
            continue;
        }
        Py_ssize_t end = i;
        int kind = token_at(t, i, &end);
        if (kind == DECLINE) return 0;
        if (kind == K_NONE) {
            i++;
            continue;
        }
        if (kind == K_BQ) { /* a name stays in the text, whatever its characters (see Out) */
            i = end;
            continue;
        }
        PIECE(); /* the text before the token */
        Py_ssize_t seg = o->len, window = starts[0]; /* out[-3:]: two pieces, then this one */
        if (out_text(o, t, pos, i) < 0) return -1;
        int blank = 1;
        for (Py_ssize_t k = seg; k < o->len && blank; k++) blank = is_space(o->buf[k]);
        pos = end;
        int after_string = last_string;
        last_string = kind == K_SQ || kind == K_DQ;
        PIECE(); /* the token's piece */
        if (kind == K_CMT || kind == K_VCMT) {
            if (loose) {
                positions = by_words_anywhere(t);
                loose = 0;
            }
            if (out_ascii(o, " ") < 0) return -1;
            i = end;
            continue;
        }
        if (kind == K_SYS || kind == K_USER) {
            PyObject *dict = kind == K_SYS ? p->sysvars : p->uservars;
            snprintf(name, sizeof name, "%c%zd", kind == K_SYS ? 'g' : 'u', PyDict_GET_SIZE(dict) + 1);
            Py_ssize_t from = i + (kind == K_SYS ? 2 : 1), to = end;
            if (kind == K_USER) { /* text[1:].strip("`'") */
                while (from < to && (at(t, from) == '`' || at(t, from) == '\'')) from++;
                while (to > from && (at(t, to - 1) == '`' || at(t, to - 1) == '\'')) to--;
            }
            if (set_steal(dict, name, PyUnicode_Substring(t->str, from, to)) < 0) return -1;
            if (out_ascii(o, ":") < 0 || out_ascii(o, name) < 0) return -1;
            i = end;
            continue;
        }
        int string = kind == K_SQ || kind == K_DQ;
        if (string && after_string && blank) return 0; /* 'a' 'b': joined */
        /* (the segment's end: the token's piece has not started yet) */
        if (string && o->len > seg && lower(o->buf[o->len - 1]) == 'n' &&
            (o->len - 1 == seg || !is_word(o->buf[o->len - 2])))
            return 0; /* N'...' */
        int binary = 0;
        if (kind == K_NUM) {
            int integer = 1;
            for (Py_ssize_t k = i; k < end && integer; k++) integer = is_digit(at(t, k));
            if (integer) {
                if (end - i > 18) return 0;
                if (positions) { /* lexer.py's _Positions.check */
                    int item = item_end(t, end);
                    if (item == DECLINE) return 0;
                    if (item && by_end(o)) { /* ORDER BY 1: a position */
                        if (out_text(o, t, i, end) < 0) return -1;
                        i = end;
                        continue;
                    }
                    int walked = item && ends_with_comma(o) ? comma_position(o, walk) : 0;
                    if (walked < 0) return -1;
                    if (walked) { /* ORDER BY a, 1 */
                        if (out_text(o, t, i, end) < 0) return -1;
                        i = end;
                        continue;
                    }
                }
                int typed = in_type_arguments(o, window);
                if (typed == DECLINE) return 0;
                if (typed) { /* DECIMAL(10,2): part of the type */
                    if (out_text(o, t, i, end) < 0) return -1;
                    i = end;
                    continue;
                }
                PyObject *text = PyUnicode_Substring(t->str, i, end);
                if (text == NULL) return -1;
                PyObject *v = PyLong_FromUnicodeObject(text, 10);
                Py_DECREF(text);
                if (append_steal(p->params, v) < 0) return -1;
            } else if (append_steal(p->params, literal(t, kind, i, end, 0)) < 0) {
                return -1;
            }
        } else {
            if (kind != K_Q) {
                int underscore = 0;
                for (Py_ssize_t k = seg; k < o->len && !underscore; k++) underscore = o->buf[k] == '_';
                if (underscore) {
                    Py_ssize_t cut = introducer(o, seg, &binary);
                    if (cut >= 0) {
                        o->len = cut;
                        starts[2] = cut; /* the token's piece starts where the segment now ends */
                    }
                }
            } else if (append_steal(p->placeholders, PyLong_FromSsize_t(PyList_GET_SIZE(p->params))) < 0) {
                return -1;
            }
            if (append_steal(p->params, literal(t, kind, i, end, binary)) < 0) return -1;
        }
        if (append_steal(p->raw, PyUnicode_Substring(t->str, i, end)) < 0) return -1;
        snprintf(name, sizeof name, ":p%zd", PyList_GET_SIZE(p->params));
        if (out_ascii(o, name) < 0) return -1;
        i = end;
    }
#undef PIECE
    if (out_text(o, t, pos, t->n) < 0) return -1;
    return 1;
}

static PyObject *lex(PyObject *module, PyObject *sql) {
    (void)module;
    if (!PyUnicode_Check(sql)) {
        PyErr_SetString(PyExc_TypeError, "lex() takes a str");
        return NULL;
    }
    Text t = {sql, PyUnicode_KIND(sql), PyUnicode_DATA(sql), PyUnicode_GET_LENGTH(sql)};
    Out o = {NULL, 0, 0};
    Walk walk = {0, 0, 0, NULL};
    Parts p = {PyList_New(0), PyList_New(0), PyList_New(0), PyDict_New(), PyDict_New()};
    PyObject *result = NULL;
    if (p.params == NULL || p.raw == NULL || p.placeholders == NULL || p.sysvars == NULL || p.uservars == NULL) goto done;
    if (out_reserve(&o, t.n + 16) < 0) goto done;
    int r = lex_into(&t, &o, &p, &walk);
    if (r < 0) goto done;
    if (r == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    /* "".join(out).strip().rstrip(";").strip() */
    Py_ssize_t a = 0, b = o.len;
    while (a < b && is_space(o.buf[a])) a++;
    while (b > a && is_space(o.buf[b - 1])) b--;
    while (b > a && o.buf[b - 1] == ';') b--;
    while (b > a && is_space(o.buf[b - 1])) b--;
    PyObject *shape = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, o.buf + a, b - a);
    if (shape == NULL) goto done;
    result = PyTuple_Pack(6, shape, p.params, p.raw, p.placeholders, p.sysvars, p.uservars);
    Py_DECREF(shape);
done:
    PyMem_Free(o.buf);
    PyMem_Free(walk.frames);
    Py_XDECREF(p.params);
    Py_XDECREF(p.raw);
    Py_XDECREF(p.placeholders);
    Py_XDECREF(p.sysvars);
    Py_XDECREF(p.uservars);
    return result;
}

static PyMethodDef methods[] = {
    {"lex", lex, METH_O,
     "lex(sql) -> (shape, params, raw, placeholders, sysvars, uservars), or None where the Python lexer must run."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_lex", NULL, -1, methods};

PyMODINIT_FUNC PyInit__lex(void) {
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "version", LEX_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
