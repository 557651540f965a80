/* test_props_filter_policy.c — the three pieces that read names the way Java MM2 does:
 * .properties parsing (props.c), regex name filters (filter.c) and replication policies
 * (policy.c). Expected values come from java.util.Properties, java.util.regex and MM2's
 * DefaultReplicationPolicy/IdentityReplicationPolicy sources. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "filter.h"
#include "policy.h"
#include "props.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static km_props_t parse_ok(const char *text, km_diag_t *d) {
    km_props_t p = {0};
    assert_int_equal(km_props_parse_buf(text, strlen(text), "t.properties", &p, d), 0);
    return p;
}

static void test_props_separators_and_comments(void **state) {
    km_diag_t d = {0};
    km_props_t p = parse_ok("# comment\n! also comment\n\n  a=1\nb : 2\nc 3\nd\t\t=  4 \ne=\nf\n"
                            "clusters = us-west, us-east   # defines cluster aliases\n"
                            "g = x\\#y # z\nh = 50%#off\n", &d);
    assert_string_equal(km_props_get(&p, "a"), "1");
    assert_string_equal(km_props_get(&p, "b"), "2");
    assert_string_equal(km_props_get(&p, "c"), "3");
    assert_string_equal(km_props_get(&p, "d"), "4 "); /* Java keeps trailing whitespace */
    assert_string_equal(km_props_get(&p, "e"), "");
    assert_string_equal(km_props_get(&p, "f"), "");
    assert_string_equal(km_props_get(&p, "clusters"), "us-west, us-east");
    assert_string_equal(km_props_get(&p, "g"), "x#y");
    assert_string_equal(km_props_get(&p, "h"), "50%#off"); /* '#' not after whitespace is data */
    assert_int_equal(km_props_find(&p, "clusters")->line, 10);
    assert_null(km_props_get(&p, "# comment"));
    assert_int_equal(d.nwarnings, 0);
    km_props_free(&p);
    km_diag_free(&d);
}

static void test_props_continuation_escapes(void **state) {
    km_diag_t d = {0};
    km_props_t p = parse_ok("topics = a, \\\n    b, \\\r\n\tc\nkey\\ with\\=sep = v\\tw\\u00e9\\uD83D\\uDE00\n"
                            "even = ends\\\\\nnext = 1\nx = \\ lead\n", &d);
    assert_string_equal(km_props_get(&p, "topics"), "a, b, c");
    assert_string_equal(km_props_get(&p, "key with=sep"), "v\tw\xc3\xa9\xf0\x9f\x98\x80");
    assert_string_equal(km_props_get(&p, "even"), "ends\\"); /* even backslashes: no continuation */
    assert_string_equal(km_props_get(&p, "next"), "1");
    assert_int_equal(km_props_find(&p, "next")->line, 6);
    assert_string_equal(km_props_get(&p, "x"), " lead");
    km_props_free(&p);
    km_diag_free(&d);
}

static void test_props_duplicates_and_errors(void **state) {
    km_diag_t d = {0};
    km_props_t p = parse_ok("a = 1\nb = 2\na = 3\n", &d);
    assert_string_equal(km_props_get(&p, "a"), "3");
    assert_int_equal(km_props_find(&p, "a")->line, 3);
    assert_int_equal(d.nwarnings, 1);
    assert_non_null(strstr(d.warnings[0], "t.properties:3"));
    assert_non_null(strstr(d.warnings[0], "line 1"));
    km_props_free(&p);
    km_diag_free(&d);

    km_props_t q = {0};
    const char *bad = "a = 1\nb = \\u12G4\n";
    assert_int_equal(km_props_parse_buf(bad, strlen(bad), "t.properties", &q, &d), -1);
    assert_int_equal(q.n, 0);
    assert_non_null(strstr(d.errors[0], "t.properties:2"));
    km_diag_free(&d);
    const char *shortu = "a = \\u12";
    assert_int_equal(km_props_parse_buf(shortu, strlen(shortu), "t", &q, &d), -1);
    km_diag_free(&d);

    /* A NUL byte or a lone surrogate is an error at its line, never a cut or changed value
     * (before: "a = x\0y" became "x", and \uD800 joined the next \uDC00-escape's partner). */
    static const char nul_raw[] = "a = 1\nb = x\0y\n";
    assert_int_equal(km_props_parse_buf(nul_raw, sizeof(nul_raw) - 1, "t.properties", &q, &d), -1);
    assert_non_null(strstr(d.errors[0], "t.properties:2: a NUL byte"));
    km_diag_free(&d);
    static const char *const refused[][2] = {
        {"b = x\\u0000y\n", "a NUL byte"},
        {"b = \\uD800\n", "unpaired UTF-16 surrogate"},
        {"b = \\uD800x\\uDC00\n", "unpaired UTF-16 surrogate"},
        {"b = \\uDC00\n", "unpaired UTF-16 surrogate"},
        {"b = \\uD800\\uD800\\uDC00\n", "unpaired UTF-16 surrogate"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (km_props_parse_buf(refused[i][0], strlen(refused[i][0]), "t.properties", &q, &d) != -1 || d.nerrors != 1 ||
            !strstr(d.errors[0], refused[i][1]))
            fail_msg("'%s' not refused with \"%s\"", refused[i][0], refused[i][1]);
        km_diag_free(&d);
    }
    km_props_t ok = parse_ok("e = \\uD83D\\uDE00\n", &d); /* a proper pair is one character */
    assert_string_equal(km_props_get(&ok, "e"), "\xF0\x9F\x98\x80");
    km_props_free(&ok);
    km_diag_free(&d);

    assert_int_equal(km_props_parse_file("/nonexistent/kmirror.properties", &q, &d), -1);
    assert_non_null(strstr(d.errors[0], "/nonexistent/kmirror.properties"));
    km_diag_free(&d);
}

static void test_props_container(void **state) {
    km_props_t p = {0};
    km_props_set(&p, "b", "1", 0);
    km_props_set(&p, "a", "2", 0);
    km_props_set_default(&p, "a", "9");
    km_props_set_default(&p, "c", "3");
    km_props_set(&p, "b", "4", 7);
    assert_string_equal(km_props_get(&p, "a"), "2");
    assert_string_equal(km_props_get(&p, "b"), "4");
    assert_int_equal(km_props_find(&p, "b")->line, 7);
    assert_int_equal(km_props_unset(&p, "b"), 1);
    assert_int_equal(km_props_unset(&p, "b"), 0);
    km_props_t q = {0};
    km_props_copy(&q, &p);
    km_props_set(&q, "0", "z", 0);
    km_props_sort(&q);
    assert_int_equal(q.n, 3);
    assert_string_equal(q.items[0].key, "0");
    assert_string_equal(q.items[1].key, "a");
    assert_string_equal(q.items[2].key, "c");
    km_props_free(&p);
    km_props_free(&q);
    assert_int_equal(q.n, 0);
}

static void test_filter_semantics(void **state) {
    km_diag_t d = {0};
    km_name_filter_t f;
    assert_int_equal(km_name_filter_init(&f, "orders.*, payments", "topics", ".*[\\-\\.]internal, .*\\.replica, __.*",
                                         "topics.exclude", &d), 0);
    assert_true(km_name_filter_accepts(&f, "orders"));
    assert_true(km_name_filter_accepts(&f, "orders-eu"));
    assert_true(km_name_filter_accepts(&f, "payments"));
    assert_false(km_name_filter_accepts(&f, "payments2"));     /* whole-name match */
    assert_false(km_name_filter_accepts(&f, "xpayments"));
    assert_false(km_name_filter_accepts(&f, "orders.internal")); /* excluded */
    assert_false(km_name_filter_accepts(&f, "orders.replica"));
    km_name_filter_free(&f);

    km_pattern_t *empty = km_pattern_new("  ", "groups", &d);
    assert_non_null(empty);
    assert_int_equal(km_pattern_match(empty, ""), 0);
    assert_int_equal(km_pattern_match(empty, "anything"), 0);
    km_pattern_free(empty);

    km_pattern_t *j = km_pattern_new("\\Qa.b\\E, (?i)CAPS, x{2}+y, a(?=b)b", "topics", &d);
    assert_int_equal(km_pattern_match(j, "a.b"), 1);
    assert_int_equal(km_pattern_match(j, "axb"), 0);
    assert_int_equal(km_pattern_match(j, "caps"), 1);
    assert_int_equal(km_pattern_match(j, "xxy"), 1);
    assert_int_equal(km_pattern_match(j, "ab"), 1);
    km_pattern_free(j);
    assert_int_equal(d.nerrors, 0);
    km_diag_free(&d);
}

static void test_filter_errors(void **state) {
    km_diag_t d = {0};
    assert_null(km_pattern_new("good, ba(d", "topics", &d));
    assert_int_equal(d.nerrors, 1);
    assert_non_null(strstr(d.errors[0], "'topics'"));
    assert_non_null(strstr(d.errors[0], "ba(d"));
    assert_non_null(strstr(d.errors[0], "character 11"));
    km_diag_free(&d);
    km_name_filter_t f;
    assert_int_equal(km_name_filter_init(&f, ".*", "groups", "[z-a]", "groups.exclude", &d), -1);
    assert_null(f.include);
    assert_null(f.exclude);
    assert_non_null(strstr(d.errors[0], "groups.exclude"));
    km_name_filter_free(&f); /* safe after a failed init */
    km_diag_free(&d);
}

/* A match PCRE2 gives up on ((a+)+$ on a long name of 'a's) never lets a name through: the
 * exclude counts it as excluded. Before, the match error read as "no match" and the name was
 * mirrored. */
static void test_filter_fails_closed(void **state) {
    km_diag_t d = {0};
    km_name_filter_t f;
    assert_int_equal(km_name_filter_init(&f, ".*", "topics", "(a+)+$, .*secret", "topics.exclude", &d), 0);
    char name[300];
    memset(name, 'a', 230);
    strcpy(name + 230, "-secret");
    assert_false(km_name_filter_accepts(&f, name));
    assert_true(km_name_filter_accepts(&f, "orders"));
    assert_false(km_name_filter_accepts(&f, "aaaa"));
    km_name_filter_free(&f);
    /* an include that cannot decide does not include */
    assert_int_equal(km_name_filter_init(&f, "(a+)+$", "topics", "", "topics.exclude", &d), 0);
    name[230] = 'b';
    name[231] = '\0';
    assert_false(km_name_filter_accepts(&f, name));
    km_name_filter_free(&f);
    km_diag_free(&d);
}

/* The plain-name table matches exactly what the regex would: the same entry written so that it
 * goes through PCRE2 ("(?:e)") gives the same answer for every name. */
static void test_filter_literals_agree_with_regex(void **state) {
    const char *entries[] = {"orders", "orders.eu", "a.b", "a..", "x-y_z.1"};
    const char *names[] = {"orders", "orders.eu", "ordersXeu", "orders.e", "orders.euu", "a.b", "aXb", "a\xc3\xa9" "b",
                           "a\nb", "ab", "abc", "a\xc3\xa9\xc3\xa9", "x-y_z.1", "x-y_z11", "x-y_z\n1", ""};
    km_diag_t d = {0};
    for (size_t e = 0; e < sizeof entries / sizeof *entries; e++) {
        char wrapped[64];
        snprintf(wrapped, sizeof wrapped, "(?:%s)", entries[e]);
        km_pattern_t *lit = km_pattern_new(entries[e], "topics", &d), *re = km_pattern_new(wrapped, "topics", &d);
        for (size_t n = 0; n < sizeof names / sizeof *names; n++) {
            int a = km_pattern_match(lit, names[n]), b = km_pattern_match(re, names[n]);
            if (a != b) fail_msg("entry '%s', name '%s': table %d, regex %d", entries[e], names[n], a, b);
        }
        km_pattern_free(lit);
        km_pattern_free(re);
    }
    assert_int_equal(d.nerrors, 0);
    km_diag_free(&d);
}

/* 10,000 topic names in `topics`, as Java MM2 accepts: before, "regular expression is too
 * large". Mixed with a regex entry. */
static void test_filter_ten_thousand_names(void **state) {
    size_t cap = 10000 * 24 + 32;
    char *list = calloc(1, cap), *at = list;
    for (int i = 0; i < 10000; i++) at += sprintf(at, "%sdc1.orders-%05d", i ? ", " : "", i);
    strcpy(at, ", payments.*");
    km_diag_t d = {0};
    km_pattern_t *p = km_pattern_new(list, "topics", &d);
    assert_non_null(p);
    assert_int_equal(d.nerrors, 0);
    assert_int_equal(km_pattern_match(p, "dc1.orders-00000"), 1);
    assert_int_equal(km_pattern_match(p, "dc1.orders-09999"), 1);
    assert_int_equal(km_pattern_match(p, "dc1Xorders-04711"), 1); /* '.' is any character, as in Java */
    assert_int_equal(km_pattern_match(p, "dc1.orders-10000"), 0);
    assert_int_equal(km_pattern_match(p, "dc1.orders-0000"), 0);
    assert_int_equal(km_pattern_match(p, "payments-eu"), 1);
    km_pattern_free(p);
    free(list);
    km_diag_free(&d);
}

static void expect_str(char *got, const char *want) {
    if (!want) assert_null(got);
    else assert_string_equal(got, want);
    free(got);
}

static void test_default_policy(void **state) {
    km_diag_t d = {0};
    km_policy_t p;
    assert_int_equal(km_policy_init(&p, "org.apache.kafka.connect.mirror.DefaultReplicationPolicy", ".", false, "A", &d), 0);
    expect_str(km_policy_format_remote_topic(&p, "A", "orders"), "A.orders");
    expect_str(km_policy_topic_source(&p, "A.orders"), "A");
    expect_str(km_policy_topic_source(&p, "orders"), NULL);
    expect_str(km_policy_topic_source(&p, "A."), NULL);   /* Java split drops trailing empties */
    expect_str(km_policy_topic_source(&p, "A.."), NULL);
    expect_str(km_policy_topic_source(&p, "A.b."), "A");
    expect_str(km_policy_upstream_topic(&p, "B.A.orders"), "A.orders");
    expect_str(km_policy_upstream_topic(&p, "orders"), NULL);
    expect_str(km_policy_original_topic(&p, "B.A.orders"), "orders");
    expect_str(km_policy_original_topic(&p, "orders"), "orders");
    expect_str(km_policy_heartbeats_topic(&p), "heartbeats");
    expect_str(km_policy_offset_syncs_topic(&p, "B"), "mm2-offset-syncs.B.internal");
    expect_str(km_policy_checkpoints_topic(&p, "A"), "A.checkpoints.internal");
    assert_true(km_policy_is_heartbeats_topic(&p, "B.A.heartbeats"));
    assert_false(km_policy_is_heartbeats_topic(&p, "B.A.heartbeats2"));
    assert_true(km_policy_is_checkpoints_topic(&p, "A.checkpoints.internal"));
    assert_true(km_policy_is_internal_topic(&p, "__consumer_offsets"));
    assert_true(km_policy_is_internal_topic(&p, ".hidden"));
    assert_true(km_policy_is_internal_topic(&p, "connect-offsets-internal"));
    assert_true(km_policy_is_internal_topic(&p, "mm2-offsets.A.internal"));
    assert_false(km_policy_is_internal_topic(&p, "orders"));
    assert_true(km_policy_is_cycle(&p, "B", "B.orders"));
    assert_true(km_policy_is_cycle(&p, "B", "C.B.orders"));
    assert_false(km_policy_is_cycle(&p, "B", "C.orders"));
    assert_false(km_policy_is_cycle(&p, "B", "orders"));
    km_policy_free(&p);
    km_diag_free(&d);
}

static void test_custom_separator(void **state) {
    km_diag_t d = {0};
    km_policy_t p;
    assert_int_equal(km_policy_init(&p, "DefaultReplicationPolicy", "_", false, "A", &d), 0);
    expect_str(km_policy_format_remote_topic(&p, "A", "orders"), "A_orders");
    expect_str(km_policy_topic_source(&p, "A_orders.v1"), "A");
    expect_str(km_policy_offset_syncs_topic(&p, "B"), "mm2-offset-syncs.B.internal"); /* internal keeps '.' */
    km_policy_free(&p);
    assert_int_equal(km_policy_init(&p, "DefaultReplicationPolicy", "__", true, "A", &d), 0);
    expect_str(km_policy_offset_syncs_topic(&p, "B"), "mm2-offset-syncs__B__internal");
    expect_str(km_policy_checkpoints_topic(&p, "A"), "A__checkpoints__internal");
    assert_true(km_policy_is_checkpoints_topic(&p, "A__checkpoints__internal"));
    expect_str(km_policy_upstream_topic(&p, "X__Y__t"), "Y__t");
    km_policy_free(&p);
    km_diag_free(&d);
}

static void test_identity_policy(void **state) {
    km_diag_t d = {0};
    km_policy_t p;
    assert_int_equal(km_policy_init(&p, " IdentityReplicationPolicy ", ".", false, "A", &d), 0);
    expect_str(km_policy_format_remote_topic(&p, "A", "orders"), "orders");
    expect_str(km_policy_format_remote_topic(&p, "A", "heartbeats"), "A.heartbeats");
    expect_str(km_policy_topic_source(&p, "orders"), "A");
    expect_str(km_policy_topic_source(&p, "B.heartbeats"), "B");
    expect_str(km_policy_upstream_topic(&p, "B.orders"), "B.orders");
    expect_str(km_policy_original_topic(&p, "C.B.heartbeats"), "heartbeats");
    assert_false(km_policy_is_cycle(&p, "B", "orders"));
    assert_false(km_policy_is_cycle(&p, "B", "B.orders")); /* identity cannot see cycles */
    assert_true(km_policy_is_cycle(&p, "B", "B.heartbeats"));
    km_policy_free(&p);

    assert_int_equal(km_policy_init(&p, "com.example.MyPolicy", ".", false, "A", &d), -1);
    assert_non_null(strstr(d.errors[0], "replication.policy.class"));
    assert_non_null(strstr(d.errors[0], "com.example.MyPolicy"));
    km_policy_free(&p); /* safe after a failed init */
    km_diag_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_props_separators_and_comments),
        cmocka_unit_test(test_props_continuation_escapes),
        cmocka_unit_test(test_props_duplicates_and_errors),
        cmocka_unit_test(test_props_container),
        cmocka_unit_test(test_filter_semantics),
        cmocka_unit_test(test_filter_errors),
        cmocka_unit_test(test_filter_fails_closed),
        cmocka_unit_test(test_filter_literals_agree_with_regex),
        cmocka_unit_test(test_filter_ten_thousand_names),
        cmocka_unit_test(test_default_policy),
        cmocka_unit_test(test_custom_separator),
        cmocka_unit_test(test_identity_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
