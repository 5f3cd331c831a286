// Every operation the example sends. `graphql()` comes from the generated src/gql/: each call
// returns a TypedDocumentNode, so variables and results are typed from schema.graphql.
import { graphql } from "./gql/index.js";

export const SignInTexts = graphql(`
  query SignInTexts {
    serverTime
    exchanges {
      id
      signInTexts
      eip712Domain {
        name
        version
        chainId
      }
    }
  }
`);

export const Onboard = graphql(`
  mutation Onboard($input: OnboardInput!) {
    onboard(input: $input) {
      jwt
      refreshToken
      profile {
        id
        wallet
      }
    }
  }
`);

export const Me = graphql(`
  query Me($first: Int!, $after: String) {
    me {
      id
      wallet
      orderHistory(first: $first, after: $after) {
        edges {
          node {
            id
            marketId
            side
            status
            size
            price
            createdAt
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`);

export const Refresh = graphql(`
  mutation Refresh($refreshToken: String!) {
    refreshSession(refreshToken: $refreshToken) {
      jwt
      refreshToken
    }
  }
`);

export const Logout = graphql(`
  mutation Logout {
    logout
  }
`);
