// The request target parser and the XML writer.
#include "funkhaus/web/request_target.h"

#include <gtest/gtest.h>

#include "funkhaus/web/xml_reply.h"

namespace funkhaus::web {
namespace {

TEST(WebRequestTarget, ParsesPathAndQuery) {
  auto t = RequestTarget::parse(
      "/pair?uniqueid=0123456789ABCDEF&devicename=roth%20pc&updateState=1&salt=");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->path(), "/pair");
  EXPECT_EQ(*t->text("devicename"), "roth pc");
  EXPECT_EQ(*t->text("salt"), "");
  EXPECT_EQ(*t->integer("updateState", 0, 1), 1);
  EXPECT_FALSE(t->has("phrase"));
  auto missing = t->text("phrase");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("phrase"), std::string::npos);
  EXPECT_TRUE(RequestTarget::parse("/serverinfo").ok());
  EXPECT_TRUE(RequestTarget::parse("/serverinfo?").ok());
}

TEST(WebRequestTarget, RefusesWhatIsNotStrictlyValid) {
  EXPECT_FALSE(RequestTarget::parse("").ok());
  EXPECT_FALSE(RequestTarget::parse("pair").ok());
  EXPECT_FALSE(RequestTarget::parse("http://host/pair").ok());
  EXPECT_FALSE(RequestTarget::parse("/pa ir").ok());
  EXPECT_FALSE(RequestTarget::parse("/pair?a=1&a=2").ok());
  EXPECT_FALSE(RequestTarget::parse("/pair?a=%2").ok());
  EXPECT_FALSE(RequestTarget::parse("/pair?a=%zz").ok());
  EXPECT_FALSE(RequestTarget::parse("/pair?a=%00").ok());
  EXPECT_FALSE(RequestTarget::parse("/pair?=1").ok());
  EXPECT_FALSE(RequestTarget::parse("/pair?a b=1").ok());
  EXPECT_FALSE(RequestTarget::parse("/pair?a=\x80").ok());
  EXPECT_FALSE(RequestTarget::parse("/" + std::string(kMaxTargetBytes, 'a')).ok());
  std::string many = "/x?";
  for (size_t i = 0; i <= kMaxQueryPairs; ++i) many += "p" + std::to_string(i) + "=1&";
  auto too_many = RequestTarget::parse(many);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().message.find("query parameters"), std::string::npos);
}

TEST(WebRequestTarget, IntegersAreStrict) {
  auto t = RequestTarget::parse("/launch?rikeyid=-2147483648&big=2147483648&x=12a&e=&p=%2B5&s=+5");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t->integer("rikeyid", INT32_MIN, INT32_MAX), INT32_MIN);
  EXPECT_FALSE(t->integer("big", INT32_MIN, INT32_MAX).ok());
  EXPECT_FALSE(t->integer("x", 0, 100).ok());
  EXPECT_FALSE(t->integer("e", 0, 100).ok());
  ASSERT_TRUE(t->integer("p", 0, 100).ok());
  EXPECT_EQ(*t->integer("p", 0, 100), 5);
  EXPECT_FALSE(t->integer("s", 0, 100).ok());  // "+" in a query is a space
  auto out = t->integer("big", 0, 10);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message.find("big"), std::string::npos);
}

TEST(WebXmlReply, EscapesEverything) {
  const std::string xml = XmlReply(400, "bad \"a\" <b> & 'c'")
                              .element("AppTitle", "Tom & Jerry <3>")
                              .element("ID", 7)
                              .finish();
  EXPECT_EQ(xml,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<root status_code=\"400\" "
            "status_message=\"bad &quot;a&quot; &lt;b&gt; &amp; &apos;c&apos;\">"
            "<AppTitle>Tom &amp; Jerry &lt;3&gt;</AppTitle><ID>7</ID></root>\n");
  EXPECT_EQ(xmlEscape(std::string("a\x01"
                                  "b")),
            "ab");
}

}  // namespace
}  // namespace funkhaus::web
