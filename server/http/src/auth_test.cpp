#include "cardbureau/http/auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

namespace cardbureau::http {
namespace {

std::string Table(const std::string& entries) { return "{\"tokens\":[" + entries + "]}"; }
std::string Entry(const std::string& name, const std::string& role, const std::string& token) {
  return "{\"name\":\"" + name + "\",\"role\":\"" + role + "\",\"sha256\":\"" + HashToken(token) +
         "\"}";
}

TEST(HashToken, IsSha256Hex) {
  EXPECT_EQ(HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(TokenTable, AuthenticatesEachRole) {
  auto t = TokenTable::Parse(Table(Entry("op", "operator", "t-op") + "," +
                                   Entry("q", "qa", "t-qa") + "," + Entry("ad", "admin", "t-ad")));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->size(), 3u);
  auto op = t->Authenticate("Bearer t-op");
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->name, "op");
  EXPECT_EQ(op->role, Role::kOperator);
  EXPECT_EQ(t->Authenticate("Bearer t-qa")->role, Role::kQa);
  EXPECT_EQ(t->Authenticate("Bearer t-ad")->role, Role::kAdmin);
}

TEST(TokenTable, RefusesUnknownMissingAndMalformed) {
  auto t = TokenTable::Parse(Table(Entry("op", "operator", "secret")));
  ASSERT_TRUE(t.ok());
  for (const char* h : {"", "Bearer", "Bearer ", "bearer secret", "Basic c2VjcmV0", "secret",
                        "Bearer secreT", "Bearer secret "}) {
    auto r = t->Authenticate(h);
    ASSERT_FALSE(r.ok()) << h;
    EXPECT_EQ(r.status().code(), Code::kUnauthorized) << h;
    EXPECT_EQ(r.status().message().find("secret"), std::string::npos);
  }
  EXPECT_FALSE(t->Authenticate("Bearer " + std::string(300, 'a')).ok());
}

TEST(TokenTable, ParseErrorsNameTheField) {
  struct Case {
    std::string text;
    std::string field;
  } cases[] = {
      {"[]", ""},
      {"{}", "tokens"},
      {"{\"tokens\":[1]}", "tokens[0]"},
      {Table("{\"name\":\"a\",\"role\":\"boss\",\"sha256\":\"" + HashToken("x") + "\"}"),
       "tokens[0].role"},
      {Table("{\"name\":\"a\",\"role\":\"qa\",\"sha256\":\"abc\"}"), "tokens[0].sha256"},
      {Table("{\"name\":\"a\",\"role\":\"qa\",\"sha256\":\"" + std::string(64, 'g') + "\"}"),
       "tokens[0].sha256"},
      {Table("{\"name\":\"\",\"role\":\"qa\",\"sha256\":\"" + HashToken("x") + "\"}"),
       "tokens[0].name"},
      {Table(Entry("a", "qa", "x") + "," + Entry("a", "admin", "y")), "tokens[1].name"},
      {Table(Entry("a", "qa", "x") + "," + Entry("b", "admin", "x")), "tokens[1].sha256"},
  };
  for (const auto& c : cases) {
    auto r = TokenTable::Parse(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), Code::kInvalidConfig);
    EXPECT_EQ(r.status().field(), c.field) << c.text;
  }
}

TEST(TokenTable, LoadRefusesAFileOthersCanAccess) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("cb_tokens_" + std::to_string(::getpid()) + ".json");
  { std::ofstream(path) << Table(Entry("op", "operator", "t")); }
  ::chmod(path.c_str(), 0600);
  auto ok = TokenTable::Load(path);
  ASSERT_TRUE(ok.ok()) << ok.status();
  // Token hashes are secrets: any group/other access is refused.
  for (mode_t mode : {0620, 0640, 0604, 0644}) {
    ::chmod(path.c_str(), mode);
    auto bad = TokenTable::Load(path);
    ASSERT_FALSE(bad.ok()) << std::oct << mode;
    EXPECT_EQ(bad.status().code(), Code::kKeyFileInsecure) << std::oct << mode;
  }
  std::filesystem::remove(path);
  EXPECT_EQ(TokenTable::Load(path).status().code(), Code::kIoError);
}

TEST(Role, RoundTrips) {
  for (Role r : {Role::kOperator, Role::kQa, Role::kAdmin}) {
    EXPECT_EQ(RoleFromString(ToString(r)), r);
  }
  EXPECT_FALSE(RoleFromString("root").has_value());
}

}  // namespace
}  // namespace cardbureau::http
